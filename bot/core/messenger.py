"""How the core tells people things, without knowing Slack: a small protocol that
bot/slack/outbox.py implements with the Web API and an outbox (a test can with a list).

One parent message per request, everything else in its thread; a message the bot posted can be
replaced; the parent carries a one-line summary of the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.reply import Reply

# Answers meaning "this bot cannot write here", as opposed to a fault worth retrying.
CANNOT_POST = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "not_allowed_token_type",
    }
)


@dataclass(frozen=True)
class Thread:
    channel: str
    ts: str
    header: str  # the parent's text, before its outcome is added


class Undelivered(Exception):
    """A message could not be delivered; ``error`` is the platform's own word for why."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error

    @property
    def needs_invite(self) -> bool:
        return self.error in CANNOT_POST


class Messenger(Protocol):
    """Every method raises Undelivered when the message cannot get through (the bot may not
    post there); what Slack may take later is kept and sent later, and the id returned for a
    message not sent yet stands for it until it is."""

    def open_thread(self, channel: str, header: str) -> Thread:
        """Post a parent message."""
        ...

    def reply(self, thread: Thread, reply: Reply, key: str | None = None) -> str:
        """Post in the thread; returns the message's id (its ts). ``key``: the caller's name
        for the message, so that saying it again (after a crash, from another process) does
        not post it twice."""
        ...

    def replace(self, channel: str, ts: str, reply: Reply) -> None: ...

    def close(self, thread: Thread, reply: Reply) -> None:
        """Add the outcome to the parent; never raises (the answer is in the thread)."""
        ...

    def post(self, channel: str, text: str) -> None: ...

    def send(self, channel: str, reply: Reply, key: str | None = None) -> str:
        """A message of its own in the channel (an alert); returns its id (its ts)."""
        ...

    def ephemeral(self, channel: str, user: str, reply: Reply) -> None:
        """Only ``user`` sees it."""
        ...
