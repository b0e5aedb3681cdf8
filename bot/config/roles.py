"""The verb facts the config is checked against, from the verb registry (commands/): which
verbs a role may grant, which are open to everyone, the built-in roles, the command words a
deployment may not be named after.

The registry is imported when first asked for, not when this module is: the commands import
the core, which imports the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.verbs import Registry


def verbs() -> Registry:
    from commands import REGISTRY

    return REGISTRY


def builtin_roles() -> dict[str, frozenset[str]]:
    """``viewer`` and ``operator``, as the verbs declare them (``Verb.role``)."""
    return verbs().builtin_roles()


def granted_verbs() -> frozenset[str]:
    """Verbs a role may grant; the others are open to everyone."""
    return verbs().granted


def open_verbs() -> frozenset[str]:
    return verbs().open


def command_words() -> frozenset[str]:
    """Every verb: a deployment may not be named like one (`/airflow list status` would be
    ambiguous)."""
    return frozenset(v.name for v in verbs())
