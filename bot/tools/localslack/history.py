"""Reading messages back: ``conversations.history`` and ``conversations.replies``, as Slack pages
them, and the counts a fault suite asks of what was posted (``posts_with_event``,
``event_counts``).

Both methods take ``oldest``/``latest`` (exclusive unless ``inclusive``), ``limit`` and
``cursor``, and return ``metadata`` only with ``include_all_metadata``. History is the channel's
top-level messages, newest first; replies are the parent, then its replies oldest first.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.tools.localslack.messages import Messages
from bot.tools.localslack.wire import SlackError, as_bool, as_text

# Slack's default and largest page of conversations.history; conversations.replies's default.
_HISTORY_LIMIT, _HISTORY_MAX = 100, 999
_REPLIES_LIMIT = 1000
# The bot scopes that let a token read a conversation of each kind, by the ID's first letter
# (private channels and group DMs both begin with G).
_HISTORY_SCOPES = {
    "C": ("channels:history",),
    "G": ("groups:history", "mpim:history"),
    "D": ("im:history",),
}
_CURSOR_PREFIX = "next_ts:"  # what Slack's own cursors decode to


def _ts_param(params: dict[str, Any], name: str, error: str) -> Decimal | None:
    text = as_text(params.get(name)).strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SlackError(error) from None
    if not value.is_finite():
        raise SlackError(error)
    return value


class _Range:
    """``oldest`` and ``latest`` of a read: exclusive, unless ``inclusive``."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.oldest = _ts_param(params, "oldest", "invalid_ts_oldest")
        self.latest = _ts_param(params, "latest", "invalid_ts_latest")
        self.inclusive = as_bool(params.get("inclusive"))

    def __contains__(self, ts: str) -> bool:
        value = Decimal(ts)
        if self.oldest is not None and (
            value < self.oldest or (value == self.oldest and not self.inclusive)
        ):
            return False
        return (
            self.latest is None or value < self.latest or (value == self.latest and self.inclusive)
        )


def _limit(params: dict[str, Any], default: int, largest: int) -> int:
    try:
        limit = int(as_text(params.get("limit")) or default)
    except ValueError:
        return default
    return default if limit < 1 else min(limit, largest)


def _cursor(ts: str) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{ts}".encode()).decode("ascii")


def _cursor_ts(params: dict[str, Any]) -> Decimal | None:
    cursor = as_text(params.get("cursor")).strip()
    if not cursor:
        return None
    try:
        text = base64.b64decode(cursor, validate=True).decode("utf-8")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        return Decimal(text[len(_CURSOR_PREFIX) :])
    except (ValueError, binascii.Error, InvalidOperation):
        raise SlackError("invalid_cursor") from None


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


class History(Messages):
    """``conversations.history`` and ``conversations.replies``, over the stored messages."""

    # ---------------------------------------------------------------- for tests and benchmarks

    def posts_with_event(self, event_type: str) -> list[dict[str, Any]]:
        """Messages in any channel or thread whose metadata has ``event_type``, in the order they
        were posted; each a copy with its ``"channel"`` added."""
        with self._lock:
            found = [
                {**copy.deepcopy(m), "channel": channel}
                for channel, msgs in self._messages.items()
                for m in msgs
                if m.get("metadata", {}).get("event_type") == event_type
            ]
        return sorted(found, key=lambda m: Decimal(m["ts"]))

    def event_counts(self, event_type: str, key: str) -> Counter[Any]:
        """How many messages carry each value of ``metadata.event_payload[key]`` among those with
        ``event_type`` (None: the key is missing). A count above 1 is a duplicate post:
        ``[k for k, n in slack.event_counts("outbox", "id").items() if n > 1]``.

        Objects and arrays are counted by their JSON text."""
        return Counter(
            _hashable(m["metadata"]["event_payload"].get(key))
            for m in self.posts_with_event(event_type)
        )

    # ---------------------------------------------------------------- Web API methods

    def _readable_channel(self, params: dict[str, Any]) -> str:
        """The channel a read asks for, once Slack would let this token read it."""
        channel = as_text(params.get("channel"))
        scopes = _HISTORY_SCOPES.get(channel[:1])
        if scopes is None or len(channel) < 2:
            raise SlackError("channel_not_found")
        if not set(scopes) & set(self.bot_scopes):
            raise SlackError(
                "missing_scope", {"needed": scopes[0], "provided": ",".join(self.bot_scopes)}
            )
        self._check_member(channel)
        return channel

    @staticmethod
    def _shown(msg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """A stored message as these methods show it."""
        shown = copy.deepcopy(msg)
        if not as_bool(params.get("include_all_metadata")):
            shown.pop("metadata", None)
        if shown.get("reply_count"):  # Slack marks a thread's parent with its own ts
            shown["thread_ts"] = shown["ts"]
        return shown

    def _page(
        self, items: list[dict[str, Any]], limit: int, params: dict[str, Any]
    ) -> dict[str, Any]:
        more = len(items) > limit
        return {
            "ok": True,
            "messages": [self._shown(m, params) for m in items[:limit]],
            "has_more": more,
            "response_metadata": {"next_cursor": _cursor(items[limit]["ts"]) if more else ""},
        }

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params)
        in_range, after = _Range(params), _cursor_ts(params)
        top_level = [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts", m["ts"]) == m["ts"]
            and m["ts"] in in_range
            and (after is None or Decimal(m["ts"]) <= after)
        ]
        top_level.sort(key=lambda m: Decimal(m["ts"]), reverse=True)
        limit = _limit(params, _HISTORY_LIMIT, _HISTORY_MAX)
        return {**self._page(top_level, limit, params), "pin_count": 0}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params)
        ts = as_text(params.get("ts"))
        parent = self._find_message(channel, ts) if ts else None
        if parent is None:
            raise SlackError("thread_not_found")
        in_range, after = _Range(params), _cursor_ts(params)
        replies = [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts") == ts
            and m["ts"] != ts
            and m["ts"] in in_range
            and (after is None or Decimal(m["ts"]) >= after)
        ]
        replies.sort(key=lambda m: Decimal(m["ts"]))
        # The parent heads the first page only; a cursor carries on among the replies.
        items = replies if after is not None else [parent, *replies]
        return self._page(items, _limit(params, _REPLIES_LIMIT, _REPLIES_LIMIT), params)
