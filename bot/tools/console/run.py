"""``run_console``: the console from start to end: the bot started on a local Slack, its log
sent to a file, the banner, the session, and everything stopped again."""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.app import StartupError
from bot.tools.console.session import DEFAULT_CHANNEL, DEFAULT_USER, Console
from bot.tools.console.typed import option_problem
from bot.tools.localbot import LocalBot
from bot.tools.signing import channel_name_for


def banner(local: LocalBot, *, user: str, channel: str, log_path: Path | None) -> str:
    configured = local.config.deployments.items()
    deployments = ", ".join(f"{name} ({dep.where})" for name, dep in configured)
    lines = [
        "The real bot, with a stand-in for Slack on this machine: nothing is sent to Slack.",
        f"Deployments: {deployments or 'none configured'}",
        f"You are {user} in #{channel_name_for(channel)} ({channel}). Try /airflow help; "
        "? shows what else you can type; Ctrl-D leaves.",
    ]
    if log_path is not None:
        lines.append(f"The bot's log: {log_path}")
    return "\n".join(lines)


def run_console(
    env: Mapping[str, str],
    *,
    user: str = DEFAULT_USER,
    channel: str = DEFAULT_CHANNEL,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    log_path: Path | None = None,
    intro: str = "",
) -> int:
    """Start the bot on a local Slack and chat with it until the input ends.

    ``intro`` follows the banner: suggestions of what to type, say.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    problem = option_problem("as", user) or option_problem("in", channel)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="chatops-console-")) / "bot.log"
    _log_to(log_path)
    try:
        local = LocalBot.start(env, configure_logs=True)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    try:
        console = Console(local, stdin=stdin, stdout=stdout, user=user, channel=channel)
        return console.run(
            banner=banner(local, user=user, channel=channel, log_path=log_path) + intro
        )
    finally:
        local.close()


def _log_to(path: Path) -> None:
    # The bot's log lines would break up the conversation: they go to a file instead.
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
