"""One module per verb. A command takes a ``Context`` and returns a ``Reply``; no Slack I/O."""

from __future__ import annotations

from collections.abc import Callable

from bot.reply import Reply
from commands import clear, deployments, help, pause, status, trigger, unpause, whoami
from commands import list as list_
from commands.context import Context

__all__ = ["HANDLERS", "LOCAL_VERBS", "Context"]

HANDLERS: dict[str, Callable[[Context], Reply]] = {
    "help": help.run,
    "deployments": deployments.run,
    "whoami": whoami.run,
    "list": list_.run,
    "status": status.run,
    "trigger": trigger.run,
    "pause": pause.run,
    "unpause": unpause.run,
    "clear": clear.run,  # from the button under a failed run
}
# Verbs answered from the config alone, quick enough to answer inside the ack itself.
LOCAL_VERBS = frozenset({"help", "deployments", "whoami"})
