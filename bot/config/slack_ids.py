"""Slack IDs in the config: channels, users and user groups, never names or handles.

A value that is an ID but for its case is answered with the upper-case ID to write; anything
else with what kind of ID to use instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config.checker import Checker, show

__all__ = ["CHANNEL", "USER", "USERGROUP", "IdKind", "slack_id"]

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


@dataclass(frozen=True)
class IdKind:
    """How one kind of Slack ID looks, and the hint for what people write instead."""

    pattern: re.Pattern[str]
    what: str
    instead: str


CHANNEL = IdKind(
    _CHANNEL_ID, "a Slack channel ID like C0123ABCD", "use the channel ID (C...), not its name"
)
USER = IdKind(
    _USER_ID, "a Slack user ID like U012ABCDEF", "use the Slack user ID (U...), not a display name"
)
USERGROUP = IdKind(
    _USERGROUP_ID,
    "a Slack user group ID like S0123ABCD",
    "use the user group ID (S...), not its handle",
)


def slack_id(
    c: Checker, path: str, raw: object, kind: IdKind, *, substitute: bool = True
) -> str | None:
    """The ID at `path` if it is one of this kind, else None (and a problem)."""
    value = c.string(path, raw) if substitute else raw
    if not isinstance(value, str):
        return None
    if kind.pattern.fullmatch(value):
        return value
    if _looks_like_lower_case_id(value.strip(), kind):
        c.problem(path, f"Slack IDs are upper case with no spaces: write {value.strip().upper()}")
    else:
        c.problem(path, f"{show(value)} is not {kind.what}; {kind.instead}")
    return None


def _looks_like_lower_case_id(value: str, kind: IdKind) -> bool:
    # Real IDs are 9+ characters with digits; without that test, "general" would be "GENERAL".
    return (
        len(value) >= 8
        and value.isalnum()
        and any(ch.isdigit() for ch in value)
        and kind.pattern.fullmatch(value.upper()) is not None
    )
