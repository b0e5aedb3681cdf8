"""The verb facts the config is checked against: the built-in roles and which verbs exist.

Every use of these goes through this module (or the `bot.config` re-export), so that the facts
can be replaced here alone.
"""

from __future__ import annotations

__all__ = ["BUILTIN_ROLES", "COMMAND_WORDS", "KNOWN_VERBS", "OPEN_VERBS"]

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"list", "status"}),
    "operator": frozenset({"list", "status", "trigger", "pause", "unpause", "clear"}),
}
# Verbs a role may grant. help, deployments and whoami are open to everyone.
KNOWN_VERBS: frozenset[str] = frozenset({"list", "status", "trigger", "pause", "unpause", "clear"})
OPEN_VERBS: frozenset[str] = frozenset({"help", "deployments", "whoami"})
# A deployment may not be named like a verb: `/airflow list status` would be ambiguous.
COMMAND_WORDS: frozenset[str] = KNOWN_VERBS | OPEN_VERBS
