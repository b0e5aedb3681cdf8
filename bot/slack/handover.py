"""Carrying on, in this process, with the requests another process acknowledged and did not do.

Each job carries the request as Slack sent it (the raw body and the headers that matter, kept
by ``remember_request``), and the request journal (bot/slack/journal.py) writes it down before
its ack. What a process did not do, because it was told to stop (a deploy, a restart) or died
(kill -9, the OOM killer, its machine lost), waits in the store for whichever process looks
next (each does, every second): that one carries it out as if Slack had just delivered it.
A request runs once, whichever process runs it, and says what it says once (the journal's
message keys); one whose process may have sent Airflow a write does not send it again.
Requests a process of an older release handed over (the ``handed_over`` table) are carried on
the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.slack import journal
from bot.slack.journal import request_key
from bot.slack.replay import SIGNATURE_KEY
from bot.store import JournaledRequest, Store

log = logging.getLogger(__name__)

RAW_KEY = "raw_request"  # where the middleware leaves the request in Bolt's context
RESUMED_KEY = "resumed_request"  # a request carried on from another process: its journal entry
KEPT_HEADERS = ("content-type", "x-slack-signature", "x-slack-request-timestamp")
LEASE_S = 120.0  # a legacy hand-over's; a journaled request's is the journal's


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

    def pick_up(self) -> int:
        """Carry out the requests other processes left; returns how many."""
        if not self._accepting():
            return 0  # left for a process that can take them
        taken = 0
        for request in self._store.take_journaled(self._owner(), lease_seconds=journal.LEASE_S):
            if not self._accepting():
                break  # the rest wait for their lease to lapse, for this or another process
            self._dispatch(request)
            taken += 1
        for legacy in self._store.take_handed_over(self._owner(), lease_seconds=LEASE_S):
            if not self._accepting():
                break
            raw = (legacy.body, legacy.headers)
            key = request_key(next(iter(legacy.headers.get("x-slack-signature") or []), None), raw)
            self._dispatch(JournaledRequest(key, legacy.body, legacy.headers, legacy.received_at))
            self._store.handed_over_done(legacy.id)
            taken += 1
        if taken:
            log.info("carried on with %d requests another process did not do", taken)
        return taken

    def _dispatch(self, request: JournaledRequest) -> None:
        headers = {name: list(values) for name, values in request.headers.items()}
        context: dict[str, Any] = {
            SIGNATURE_KEY: request.key,
            RAW_KEY: (request.body, headers),
            RESUMED_KEY: request,
        }
        # As Socket Mode's: the signature was checked when the request came, and its timestamp
        # may be older now than Bolt's five minutes; its ack goes nowhere, Slack had it then.
        bolt_request = BoltRequest(
            body=request.body, headers=dict(headers), context=context, mode="socket_mode"
        )
        self._app.dispatch(bolt_request)
