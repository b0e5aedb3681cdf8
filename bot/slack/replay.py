"""Refusing replayed requests: a signed request acts once, however often it is sent.

Slack's signature covers the body and a timestamp, and Bolt refuses timestamps older than
5 minutes; within those minutes a captured request could be sent again and would verify. Two
checks, so that the ack stays free of I/O:

- on the request thread, each process remembers the signatures it served in the last minutes
  and answers a second arrival 200 with nothing done (so Slack does not retry it either);
- before acting, the worker records the signature in the store, shared by every process: one
  that was already there (a replay sent to another process) is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_bolt import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.store import Store, StoreError

log = logging.getLogger(__name__)
KEEP_SECONDS = 10 * 60.0  # twice the age beyond which Bolt refuses a signature anyway
SIGNATURE_KEY = "request_signature"  # where the guard leaves it in Bolt's context


class RecentSignatures:
    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self._keep = keep_seconds
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self._keep:
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


def replay_guard(recent: RecentSignatures) -> Callable[..., BoltResponse]:
    """Bolt middleware (a plain function: Bolt passes arguments by their names)."""

    def guard(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.mode != "http":
            return next()  # Socket Mode: no signature; the connection is authenticated
        signature = _header(req, "x-slack-signature")
        if not signature:
            return next()  # refused by the signature check before it gets here
        if not recent.first_time(signature):
            retry = _header(req, "x-slack-retry-num")
            log.warning(
                "a request was delivered again%s: ignored", f" (retry {retry})" if retry else ""
            )
            return BoltResponse(status=200, body="")
        req.context[SIGNATURE_KEY] = signature
        return next()

    return guard


def once(store: Store, context: BoltContext, work: Callable[[], None]) -> Callable[[], None]:
    """``work``, for a worker to run, done only if no process has served this request yet."""
    signature = context.get(SIGNATURE_KEY)

    def run() -> None:
        if first_delivery(store, signature):
            work()

    return run


def first_delivery(store: Store, signature: str | None) -> bool:
    """On a worker, before acting: False when another process already served this request."""
    if not signature:
        return True  # Socket Mode, or a test driving the app directly
    try:
        if store.first_time(signature):
            return True
    except StoreError as exc:
        # Fail open: this process saw it only once, and acting is refused anyway while the
        # audit trail cannot be written; refusing here would leave the user with no answer.
        log.warning("replay check skipped: the state store failed: %s", exc.kind)
        return True
    log.warning("a request already served by another process was delivered again: ignored")
    return False


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name) or []
    return str(values[0]) if values else ""
