"""Retention: how long the store keeps what it no longer acts on, and the pruning of it.

Every serving process prunes now and then (bot/core/housekeeping.py), so pruning touches
every table; each batch deletes what is old by then, so passes that overlap only repeat a
cheap statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from bot.store import clock
from bot.store.engine import Database
from bot.store.follows import FOLLOWING
from bot.store.outbox import FAILED, SENT
from bot.store.schema import (
    audit_log,
    followed_run,
    handed_over,
    journaled_request,
    metadata,
    outbox,
    pending_action,
    seen_request,
    watch_event,
)
from bot.store.watches import INCIDENT_EVENTS, PENDING, POSTED

# Rows deleted in one transaction. Read at each pass, not bound at import, so that a test can
# make it small (monkeypatch bot.store.retention.PRUNE_BATCH).
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class Retention:
    """How long the store keeps what it no longer acts on (bot/core/housekeeping.py prunes it)."""

    # A replayed request older than this is refused by its timestamp anyway (bot/slack/replay.py).
    signatures: timedelta = timedelta(minutes=10)
    # Past its expiry a button only says "expired"; a day later it says "no longer does
    # anything", which is as true and needs no row.
    expired_actions: timedelta = timedelta(days=1)
    # A follow that ended (or gave up) a day ago will not be asked about again.
    finished_follows: timedelta = timedelta(days=1)
    # A watched run's post, once delivered (or given up): its row only kept it from being
    # posted twice, and the watermark is past its run by then.
    delivered_events: timedelta = timedelta(days=7)
    # A message sent (or given up): kept while a later update may still name it by its outbox
    # id (a run's follow-up, a human-in-the-loop post answered weeks later).
    delivered_messages: timedelta = timedelta(days=30)
    # A request handed over at shutdown that no process took in a day: nobody is waiting for
    # its answer any more (its response_url lasted 30 minutes).
    handed_over: timedelta = timedelta(days=1)
    # A journaled request received a day ago, done or not: done, it only kept a late replay
    # of its journal file from doing it again; not done, nobody waits for its answer.
    journaled_requests: timedelta = timedelta(days=1)
    audit: timedelta | None = None  # None: the audit trail is kept for ever


class Pruner(Protocol):
    """Pruning on a schedule (bot/core/housekeeping.py)."""

    def prune(self, rules: Retention, now: datetime | None = ...) -> dict[str, int]: ...


class Pruning:
    """``Store``'s pruning and row counts (``Store`` sets ``_db``)."""

    _db: Database

    def prune(self, rules: Retention, now: datetime | None = None) -> dict[str, int]:
        """Delete the rows that ``rules`` say are no longer needed; returns how many, by table.

        Safe from any number of processes at once: each batch deletes what is old by then.
        """
        now = now or clock.now()
        finished = followed_run.c.reported.not_in(FOLLOWING)
        conditions: dict[str, ColumnElement[bool]] = {
            "seen_request": seen_request.c.at < now - rules.signatures,
            "pending_action": pending_action.c.expires_at < now - rules.expired_actions,
            "followed_run": and_(
                followed_run.c.created_at < now - rules.finished_follows,
                finished | (followed_run.c.give_up_at < now - rules.finished_follows),
            ),
            "watch_event": and_(
                watch_event.c.state != PENDING,
                watch_event.c.created_at < now - rules.delivered_events,
                # An incident still open (a run hanging for days, a file broken for weeks)
                # is kept: its thread is where its end is told.
                ~and_(
                    watch_event.c.state == POSTED,
                    watch_event.c.closed_at.is_(None),
                    watch_event.c.event.in_(INCIDENT_EVENTS),
                ),
            ),
            "outbox": and_(
                outbox.c.state.in_((SENT, FAILED)),
                outbox.c.done_at < now - rules.delivered_messages,
            ),
            "handed_over": handed_over.c.received_at < now - rules.handed_over,
            "journaled_request": journaled_request.c.received_at < now - rules.journaled_requests,
        }
        if rules.audit is not None:
            conditions["audit_log"] = audit_log.c.at < now - rules.audit
        return {name: self._delete_in_batches(name, where) for name, where in conditions.items()}

    def _delete_in_batches(self, table_name: str, where: ColumnElement[bool]) -> int:
        # A transaction of a few thousand rows at a time: one of hundreds of thousands would
        # hold SQLite's write lock (and every command's audit row behind it) for seconds.
        table = metadata.tables[table_name]
        [key] = table.primary_key.columns
        total = 0
        while True:
            batch = select(key).where(where).limit(PRUNE_BATCH).scalar_subquery()
            with self._db.begin() as conn:
                deleted = conn.execute(delete(table).where(key.in_(batch))).rowcount
            total += deleted
            if deleted < PRUNE_BATCH:
                return total

    def row_counts(self) -> dict[str, int]:
        """How many rows each table holds (for the soak benchmark and the doctor)."""
        tables = (audit_log, pending_action, followed_run, seen_request, watch_event, outbox,
                  handed_over, journaled_request)  # fmt: skip
        with self._db.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in tables
            }
