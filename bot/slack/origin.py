"""Where a request came from: Slack, or the console (``python -m bot console``), for the audit
trail (``console:slash``, ``console:button``)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.core.audit import SLACK

CONSOLE = "console"
ORIGIN_KEY = "origin"  # where a request came from, in Bolt's context (set by console_origin)
CONSOLE_HEADER = "x-chatops-console"


def console_origin(key: str) -> Callable[..., BoltResponse]:
    """Bolt middleware for a bot the console serves (bot/tools/localbot.py): a request carrying that
    bot's own random ``key`` in CONSOLE_HEADER was sent by the console.

    Only a bot built with a key has this middleware, and only the console's local bot is, so
    nothing a request from Slack carries can make an action look like the console's.
    """
    expected = key.encode()

    def mark(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        sent = (req.headers.get(CONSOLE_HEADER) or [""])[0]
        if hmac.compare_digest(str(sent).encode(), expected):
            req.context[ORIGIN_KEY] = CONSOLE
        return next()

    return mark


def origin_of(context: Mapping[str, Any]) -> str:
    """``console`` for a request console_origin recognised; ``slack`` for every other."""
    return CONSOLE if context.get(ORIGIN_KEY) == CONSOLE else SLACK
