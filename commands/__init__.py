"""One module per verb. A command takes a ``Context`` and returns a ``Reply``; no Slack I/O."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from bot.core.reply import Reply
from commands import clear, deployments, help, pause, status, trigger, unpause, whoami
from commands import list as list_
from commands.context import Context

__all__ = ["HANDLERS", "LOCAL_VERBS", "WRITE_VERBS", "Context"]

MODULES: dict[str, ModuleType] = {
    "help": help,
    "deployments": deployments,
    "whoami": whoami,
    "list": list_,
    "status": status,
    "trigger": trigger,
    "pause": pause,
    "unpause": unpause,
    "clear": clear,  # from the button under a failed run
}
HANDLERS: dict[str, Callable[[Context], Reply]] = {verb: m.run for verb, m in MODULES.items()}
# Verbs that change something in Airflow, as each verb's module says (``WRITES = True``): every
# one of them waits for ``confirm``/``approvers`` and is announced in the audit channel, with no
# list elsewhere for a new verb to be missing from.
WRITE_VERBS = frozenset(verb for verb, m in MODULES.items() if getattr(m, "WRITES", False))
# Verbs answered from the config alone, quick enough to answer inside the ack itself.
LOCAL_VERBS = frozenset({"help", "deployments", "whoami"})
