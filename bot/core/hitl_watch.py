"""The watch's part for tasks waiting for a person (``hitl`` subscriptions, Airflow 3.1+).

Unlike a run's end, a waiting task is a state, not an event: each round reads the whole list
of waiting requests in one call (a page of 100, oldest first) and records a post for each
request and channel that wants it, once (the ``watch_event`` row, keyed by the task instance:
"run_id/task_id/map_index"), posted like any alert. A request posted before that is no longer
in the list was answered or timed out: its posts are updated to say so (who chose what, when,
where the answer came from Slack), and their buttons go.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.airflow.hitl import HitlPage, HitlRequest
from bot.core.alerts import to_message
from bot.core.hitl import (
    HitlButtons,
    HitlLinks,
    answered_post,
    claim_id,
    closed_post,
    request_post,
    where_text,
)
from bot.core.messenger import Messenger, Undelivered
from bot.core.reply import Reply
from bot.core.subscriptions import Watching
from bot.store import ActionLookup, HitlEvents, NewEvent, OwedEvent

log = logging.getLogger(__name__)

EVENT = "hitl"
ANSWERED = "answered"  # the claim's state once answered from Slack (commands/respond.py)


class HitlAirflow(Protocol):
    def hitl_refusal(self) -> str | None: ...

    def hitl_waiting(self, *, limit: int = ..., offset: int = ...) -> HitlPage: ...

    def dag_url(self, dag_id: str) -> str: ...

    def run_url(self, dag_id: str, run_id: str) -> str: ...


class HitlWatchStore(HitlEvents, ActionLookup, Protocol):
    """The waiting tasks' posts, and the claims that say who answered (commands/respond.py)."""


class HitlWatch:
    def __init__(
        self, *, store: HitlWatchStore, messenger: Messenger, buttons: HitlButtons
    ) -> None:
        self._store = store
        self._messenger = messenger
        self._buttons = buttons

    def read(
        self, deployment: str, owner: str, client: HitlAirflow, watching: Sequence[Watching]
    ) -> None:
        """One round: record the new requests' posts, and close those no longer waiting."""
        wanting = [w for w in watching if EVENT in w.events]
        if not wanting and not self._store.open_events(deployment, EVENT):
            return
        if client.hitl_refusal() is not None:
            return  # before 3.1: subscribe refuses `hitl`; one from the config posts nothing
        page = client.hitl_waiting()
        events: list[NewEvent] = []
        for req in page.requests:
            events += self._posts(deployment, client, req, wanting)
        if not self._store.record_events(deployment, owner, events):
            return  # the lease went to another process: it does the rest
        if page.total > len(page.requests):
            return  # the list was cut: what is missing from it may still be waiting
        waiting = {(r.dag_id, r.key) for r in page.requests}
        for row in self._store.open_events(deployment, EVENT):
            if (row.dag_id, row.run_id) not in waiting:
                self._close(row)

    def _posts(
        self, deployment: str, client: HitlAirflow, req: HitlRequest, wanting: Sequence[Watching]
    ) -> list[NewEvent]:
        created = req.created_at
        channels = sorted(
            {
                w.channel_id
                for w in wanting
                if created is None or w.wants(req.dag_id, EVENT, created)
            }
        )
        if not channels:
            return []
        links = HitlLinks(client.dag_url(req.dag_id), client.run_url(req.dag_id, req.run_id))
        message = to_message(request_post(deployment, req, links, buttons=self._buttons))
        message["hitl"] = {"subject": req.subject, "task_id": req.task_id,
                           "run_id": req.run_id, "map_index": req.map_index}  # fmt: skip
        return [NewEvent(c, req.dag_id, req.key, EVENT, message) for c in channels]

    def _close(self, row: OwedEvent) -> None:
        """The request no longer waits: its post says so (an unposted one is never posted)."""
        if row.message_ts:
            try:
                self._messenger.replace(row.channel_id, row.message_ts, self._closed(row))
            except Undelivered as exc:
                log.info("could not update the hitl post in %s: %s", row.channel_id, exc.error)
                return  # tried again next round
        self._store.event_closed(row.id)

    def _closed(self, row: OwedEvent) -> Reply:
        facts = row.message.get("hitl") or {}
        req = HitlRequest(dag_id=row.dag_id, run_id=str(facts.get("run_id", "")),
                   task_id=str(facts.get("task_id", "")), map_index=int(facts.get("map_index", -1)),
                   subject=str(facts.get("subject", "")))  # fmt: skip
        where = where_text(row.deployment, req)
        claim = self._store.action(claim_id(row.deployment, req))
        if claim is not None and claim.state == ANSWERED and claim.confirmed_by:
            at = claim.finished_at or claim.created_at
            return answered_post(req.subject, where, claim.confirmed_by, claim.outcome or "", at)
        return closed_post(req.subject, where)
