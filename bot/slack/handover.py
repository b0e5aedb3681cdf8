"""Handing over, at shutdown, the requests acknowledged but not started, to the next process.

A deploy or a restart stops a process (Heroku: SIGTERM, 30 s, then SIGKILL) while commands it
has acknowledged wait in its worker pool. Each job carries the request as Slack sent it (the
raw body and the headers that matter, kept by ``remember_request``); at shutdown those not
started are recorded in the store, and whichever process looks next (each does, every second)
carries them out as if Slack had just delivered them. The request's signature still guards
them (bot/slack/replay.py): a request runs once, whichever process runs it.

Recorded at shutdown, not before the ack: recording every request before its ack costs the
ack a write to the store (bench/results/ack_record_cost.md), so a kill -9 loses what was
acknowledged and not yet done (the README gives the figure).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.slack.replay import SIGNATURE_KEY
from bot.store import Store

log = logging.getLogger(__name__)

RAW_KEY = "raw_request"  # where the middleware leaves the request in Bolt's context
KEPT_HEADERS = ("content-type", "x-slack-signature", "x-slack-request-timestamp")
LEASE_S = 120.0
Raw = tuple[str, dict[str, list[str]]]


def remember_request(
    req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Bolt middleware: keep the request as it came, for a hand-over. No I/O: the ack waits."""
    if RAW_KEY in req.context:
        pass  # handed over already: it keeps what it came with (its signature)
    elif req.mode == "http":
        headers = {name: list(req.headers.get(name) or []) for name in KEPT_HEADERS}
        req.context[RAW_KEY] = (req.raw_body, headers)
    else:  # Socket Mode: Slack's envelope's payload, already parsed
        req.context[RAW_KEY] = (json.dumps(req.body), {"content-type": ["application/json"]})
    return next()


class HandOver:
    def __init__(
        self, store: Store, app: App, owner: Callable[[], str], accepting: Callable[[], bool]
    ) -> None:
        self._store = store
        self._app = app
        self._owner = owner
        self._accepting = accepting  # False in a process that is stopping, or too busy

    def record(self, requests: Sequence[Raw]) -> int:
        """Record requests for another process; how many could not be (the store is down)."""
        if not requests:
            return 0
        try:
            self._store.hand_over([(_without_token(body), headers) for body, headers in requests])
        except SQLAlchemyError as exc:
            log.error("%d acknowledged requests are lost: the state store failed while handing "
                      "them over (%s)", len(requests), type(exc).__name__)  # fmt: skip
            return len(requests)
        log.info("handed %d acknowledged requests over to the next process", len(requests))
        return 0

    def pick_up(self) -> int:
        """Carry out the requests a stopped process handed over; returns how many."""
        if not self._accepting():
            return 0  # left for a process that can take them
        taken = self._store.take_handed_over(self._owner(), lease_seconds=LEASE_S)
        for request in taken:
            if not self._accepting():
                break  # the rest wait for their lease to lapse, for this or another process
            self._dispatch(request.body, request.headers)
            self._store.handed_over_done(request.id)
        if taken:
            log.info("carried on with %d requests handed over by a stopped process", len(taken))
        return len(taken)

    def _dispatch(self, body: str, headers: dict[str, list[str]]) -> None:
        # What makes it run once, whichever process runs it (bot/slack/replay.py): Slack's
        # signature, or for a Socket Mode request (which has none) its body's digest.
        signature = next(iter(headers.get("x-slack-signature") or []), None)
        once = signature or "sm=" + hashlib.sha256(body.encode()).hexdigest()
        context: dict[str, Any] = {SIGNATURE_KEY: once, RAW_KEY: (body, headers)}
        # As Socket Mode's: the signature was checked when the request came, and its timestamp
        # may be older now than Bolt's five minutes; its ack goes nowhere, Slack had it then.
        request = BoltRequest(body=body, headers=dict(headers), context=context, mode="socket_mode")
        self._app.dispatch(request)


def _without_token(body: str) -> str:
    """The body without Slack's legacy verification token (form field ``token``, and
    ``token`` in an interaction's JSON ``payload``): nothing reads it, and the store keeps
    what is handed over for up to a day."""
    if body.startswith("{"):  # Socket Mode's JSON payload
        data = json.loads(body)
        data.pop("token", None)
        return json.dumps(data)
    fields = []
    for name, value in parse_qsl(body, keep_blank_values=True):
        if name == "token":
            continue
        if name == "payload" and value.startswith("{"):
            data = json.loads(value)
            data.pop("token", None)
            value = json.dumps(data)
        fields.append((name, value))
    return urlencode(fields)
