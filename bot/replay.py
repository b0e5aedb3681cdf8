"""Refusing replayed requests: a signed request acts once, however often it is sent.

Slack's signature covers the body and a timestamp, and Bolt refuses timestamps older than
5 minutes; within those minutes a captured request could be sent again and would verify. Each
signature is recorded in the store (shared by every process) as it is served; a second arrival
is answered 200, so Slack does not retry it, and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.store import Store

log = logging.getLogger(__name__)
KEEP_SECONDS = 10 * 60.0  # twice the age beyond which Bolt refuses a signature anyway


def replay_guard(store: Store) -> Callable[..., BoltResponse]:
    """Bolt middleware (a plain function: Bolt passes arguments by their names)."""

    def guard(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.mode != "http":
            return next()  # Socket Mode: no signature; the connection is authenticated
        signature = _header(req, "x-slack-signature")
        if not signature:
            return next()  # refused by the signature check before it gets here
        try:
            first = store.first_time(signature, keep_seconds=KEEP_SECONDS)
        except SQLAlchemyError as exc:
            # Fail open: the signature was valid, and refusing every command while the store
            # is down would be worse than a replay's narrow window; acting is refused anyway
            # when the audit trail cannot be written.
            log.warning("replay check skipped: the state store failed: %s", type(exc).__name__)
            return next()
        if first:
            return next()
        retry = _header(req, "x-slack-retry-num")
        log.warning(
            "a request was delivered again%s: ignored", f" (retry {retry})" if retry else ""
        )
        return BoltResponse(status=200, body="")

    return guard


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name) or []
    return str(values[0]) if values else ""
