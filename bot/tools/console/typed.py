"""What a person may type in the console besides a command: help, quitting, ``--as``/``--in``."""

from __future__ import annotations

import re

COMMAND = "/airflow"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_LEADING_OPTION = re.compile(r"^--(as|in)(?:\s+(\S+))?(?:\s+|$)")
_TRAILING_OPTION = re.compile(r"(?:^|\s+)--(as|in)(?:\s+(\S+))?$")
QUIT = frozenset({"exit", "quit", ":q", ":quit"})

HELP = """\
Type what you would type in Slack:
  /airflow list                 a slash command (the /airflow may be left out)
  3                             click button [3]
  /airflow list --as U0123      just this command as user U0123 (or --in C0123: in that channel)
  --as U0123                    from now on, be user U0123 (--in C0123: be in channel C0123)
  ?                             this help
  exit, or Ctrl-D               leave
Replies in a thread are shown with ↳; "only you see this" marks what Slack shows only to you.
Buttons show as [n] label (* primary, ! dangerous); a form (modal) asks for each field in turn."""


def split_options(line: str) -> tuple[dict[str, str] | None, str]:
    """``--as U1`` / ``--in C1`` at the start or end of a line; (None, why) when malformed."""
    options: dict[str, str] = {}
    rest = line
    for pattern in (_LEADING_OPTION, _TRAILING_OPTION):
        while match := pattern.search(rest):
            name, value = match.group(1), match.group(2)
            problem = option_problem(name, value)
            if problem:
                return None, problem
            assert value is not None
            options[name] = value
            rest = (rest[: match.start()] + rest[match.end() :]).strip()
    return options, rest


def option_problem(name: str, value: str | None) -> str:
    if name == "as" and not (value and _USER_ID.fullmatch(value)):
        return "--as needs a Slack user ID, like --as U012ABCDEF."
    if name == "in" and not (value and _CHANNEL_ID.fullmatch(value)):
        return "--in needs a Slack channel ID, like --in C0123ABCD."
    return ""
