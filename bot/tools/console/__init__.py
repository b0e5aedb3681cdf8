"""``python -m bot console``: chat with the real bot in a terminal, without Slack.

Each line typed becomes what Slack would send: ``/airflow list dev`` a signed slash command,
a button's number a signed ``block_actions`` click, a modal's answers a ``view_submission``.
They go over HTTP to the same Bolt app the Procfile serves (``bot.tools.localbot``), and whatever
the bot then sends to Slack (thread, replies, edits, ephemeral answers, buttons, modals) is shown
as it arrives, from the local Slack's record (``bot.tools.console_view``).

The console's parts: ``session`` (the loop: read, send, show), ``terminal`` (lines in and out),
``typed`` (help, quitting, ``--as``/``--in``), ``forms`` (what Slack asks the person itself:
confirmations, a modal's fields) and ``run`` (the console from start to end).
"""

from bot.tools.console.run import banner, run_console
from bot.tools.console.session import (
    DEFAULT_CHANNEL,
    DEFAULT_USER,
    QUIET_S,
    SETTLE_TIMEOUT_S,
    Console,
)
from bot.tools.console.typed import COMMAND, HELP

__all__ = [
    "COMMAND",
    "DEFAULT_CHANNEL",
    "DEFAULT_USER",
    "HELP",
    "QUIET_S",
    "SETTLE_TIMEOUT_S",
    "Console",
    "banner",
    "run_console",
]
