"""Watching deployments: who watches each one (a lease), how far it has read (the watermark),
and the events owed to channels, each recorded once before it is posted.

A lease is taken by one conditional UPDATE (or the INSERT of the row), so each deployment is
watched by one process at a time; another takes it over once the lease lapses. The watermark
moves in the same transaction that records the events it passed, so a crash between the two
can neither lose an event nor tell it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import watch, watch_event

PENDING, POSTED, UNDELIVERABLE, CLOSED = "pending", "posted", "undeliverable", "closed"
# The events whose post stays open until what it tells of is over (bot/core/silent.py), and
# the replies told in their threads.
INCIDENT_EVENTS = ("failed", "long", "queued", "late", "import_errors")
THREAD = "thread"
# What a reply does to the incident it is told in (``NewEvent.then``).
CLOSE, REOPEN = "close", "reopen"
# The key of an incident's message that says who acknowledged it: kept when a reply replaces
# the message, since the reply was rendered without knowing of it.
ACK = "ack"


@dataclass(frozen=True)
class WatchState:
    deployment: str
    watermark: datetime | None  # the end date of the last run read; None: not read yet
    at_watermark: frozenset[str]  # "dag_id/run_id" of the runs read that ended at it


@dataclass(frozen=True)
class NewEvent:
    channel_id: str
    dag_id: str
    run_id: str
    event: str
    message: dict[str, Any]
    # Recorded only to say it was done (a deadline checked): never posted.
    marker: bool = False
    # Recorded closed: a reply in an incident's thread, not an incident of its own.
    closed: bool = False
    # A reply (``message["thread_of"]``: the incident's id, or {"run_id", "event"} of one
    # recorded in the same call) that closes or reopens the incident it is told in, in the
    # same transaction; its ``message["replace"]``, if any, becomes the incident's message.
    then: str | None = None


@dataclass(frozen=True)
class OwedEvent:
    id: int
    channel_id: str
    deployment: str
    dag_id: str
    run_id: str
    event: str
    message: dict[str, Any]
    created_at: datetime
    attempts: int
    message_ts: str | None = None
    state: str = PENDING
    closed_at: datetime | None = None  # what it told of is over (the incident resolved)


class WatchesTable(Protocol):
    """The watch's leases, watermarks and owed posts, as the watch uses them
    (bot/core/watcher.py)."""

    def take_watch(
        self, deployment: str, owner: str, *, lease_seconds: float
    ) -> WatchState | None: ...

    def release_watch(self, deployment: str, owner: str, *, forget: bool = ...) -> None: ...

    def advance_watch(
        self,
        deployment: str,
        owner: str,
        *,
        watermark: datetime,
        at_watermark: frozenset[str],
        events: Sequence[NewEvent] = ...,
    ) -> bool: ...

    def owed_deployments(self) -> set[str]: ...

    def owed_events(self, deployment: str, *, limit: int = ...) -> list[OwedEvent]: ...

    def event_posted(self, event_id: int, message_ts: str) -> None: ...

    def event_undeliverable(self, event_id: int, error: str) -> None: ...

    def event_retry(self, event_id: int, *, delay_seconds: float, error: str) -> None: ...


class HitlEvents(Protocol):
    """The posts of tasks waiting for a person, read whole each round (bot/core/hitl_watch.py)."""

    def record_events(self, deployment: str, owner: str, events: Sequence[NewEvent]) -> bool: ...

    def open_events(self, deployment: str, event: str) -> list[OwedEvent]: ...

    def event_closed(self, event_id: int) -> None: ...


class Incidents(HitlEvents, Protocol):
    """The alerts of silent trouble, open until what they tell of is over
    (bot/core/silent.py)."""

    def resolve_event(
        self, event_id: int, *, resolved: dict[str, Any], thread: NewEvent | None
    ) -> None: ...

    def event_by_id(self, event_id: int) -> OwedEvent | None: ...

    def has_event(
        self, channel_id: str, deployment: str, dag_id: str, run_id: str, event: str
    ) -> bool: ...


class IncidentRows(Protocol):
    """The failure incidents of a deployment, open or just closed (bot/core/incidents.py)."""

    def incidents(
        self, deployment: str, event: str, *, closed_since: datetime
    ) -> list[OwedEvent]: ...

    def has_event(
        self, channel_id: str, deployment: str, dag_id: str, run_id: str, event: str
    ) -> bool: ...


class IncidentAcks(Protocol):
    """Who is on an open failure incident (commands/ack.py)."""

    def acknowledge_incident(
        self, channel_id: str, deployment: str, dag_id: str, *, by: str, at: datetime
    ) -> OwedEvent | None: ...


class WatchStates(Protocol):
    """How far a deployment's watch has read: where a new subscription starts."""

    def watch_state(self, deployment: str) -> WatchState | None: ...


class Watches:
    """``Store``'s watch methods (``Store`` sets ``_db``)."""

    _db: Database

    def take_watch(self, deployment: str, owner: str, *, lease_seconds: float) -> WatchState | None:
        """Take or renew the lease on watching ``deployment``; None while another holds it."""
        now = clock.now()
        until = now + timedelta(seconds=lease_seconds)
        free = (
            watch.c.lease_owner.is_(None)
            | (watch.c.lease_until < now)
            | (watch.c.lease_owner == owner)
        )
        with self._db.begin() as conn:
            won = conn.execute(
                update(watch)
                .where(watch.c.deployment == deployment, free)
                .values(lease_owner=owner, lease_until=until)
            ).rowcount
        if not won:
            try:
                with self._db.begin() as conn:
                    conn.execute(
                        insert(watch).values(
                            deployment=deployment, lease_owner=owner, lease_until=until
                        )
                    )
            except StoreConflict:
                return None  # the row is there, and someone else holds it
        return self.watch_state(deployment)

    def watch_state(self, deployment: str) -> WatchState | None:
        with self._db.connect() as conn:
            row = conn.execute(select(watch).where(watch.c.deployment == deployment)).mappings()
            found = row.one_or_none()
        if found is None:
            return None
        mark = found["watermark"]
        return WatchState(
            deployment=deployment,
            watermark=clock.utc(mark) if mark is not None else None,
            at_watermark=frozenset(found["at_watermark"] or ()),
        )

    def release_watch(self, deployment: str, owner: str, *, forget: bool = False) -> None:
        """Let another process watch; ``forget``: no subscription is left, so the next watch
        starts from then, not from where this one stopped."""
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if forget:
            values.update(watermark=None, at_watermark=None)
        with self._db.begin() as conn:
            conn.execute(
                update(watch)
                .where(watch.c.deployment == deployment, watch.c.lease_owner == owner)
                .values(values)
            )

    def advance_watch(
        self,
        deployment: str,
        owner: str,
        *,
        watermark: datetime,
        at_watermark: frozenset[str],
        events: Sequence[NewEvent] = (),
    ) -> bool:
        """Record ``events`` (each once: one already there is left as it is) and move the
        watermark, together; False, with nothing done, if the lease is no longer ours."""
        now = clock.now()
        with self._db.begin() as conn:
            moved = conn.execute(
                update(watch)
                .where(watch.c.deployment == deployment, watch.c.lease_owner == owner)
                .values(watermark=watermark, at_watermark=sorted(at_watermark))
            ).rowcount
            if not moved:
                return False
            _insert_events(conn, deployment, events, now)
        return True

    def record_events(self, deployment: str, owner: str, events: Sequence[NewEvent]) -> bool:
        """Record ``events`` (each once) without moving the watermark: the tasks waiting for
        a person, read whole each round. False, with nothing done, if the lease is not ours."""
        now = clock.now()
        ours = (watch.c.deployment == deployment, watch.c.lease_owner == owner)
        with self._db.begin() as conn:
            if conn.execute(select(watch.c.deployment).where(*ours)).first() is None:
                return False
            _insert_events(conn, deployment, events, now)
        return True

    def open_events(self, deployment: str, event: str) -> list[OwedEvent]:
        """The ``event`` rows of a deployment still pending or posted, and not resolved."""
        where = (watch_event.c.deployment == deployment, watch_event.c.event == event)
        with self._db.connect() as conn:
            rows = conn.execute(_alive(*where, watch_event.c.closed_at.is_(None))).mappings()
            return [_owed(row) for row in rows.all()]

    def incidents(self, deployment: str, event: str, *, closed_since: datetime) -> list[OwedEvent]:
        """The ``event`` incidents of a deployment (not the replies in their threads) still
        open, or closed since ``closed_since``, oldest first."""
        where = (watch_event.c.deployment == deployment, watch_event.c.event == event)
        recent = watch_event.c.closed_at.is_(None) | (watch_event.c.closed_at >= closed_since)
        with self._db.connect() as conn:
            rows = conn.execute(_alive(*where, recent)).mappings().all()
        return [_owed(row) for row in rows if _is_incident(row)]

    def acknowledge_incident(
        self, channel_id: str, deployment: str, dag_id: str, *, by: str, at: datetime
    ) -> OwedEvent | None:
        """Say in the open failure incident of ``dag_id`` in that channel who is on it, and
        since when; returns it as it now stands, or None when none is open (it recovered)."""
        where = _key_but_run(channel_id, deployment, dag_id, "failed")
        with self._db.begin() as conn:
            rows = conn.execute(_alive(*where, watch_event.c.closed_at.is_(None))).mappings()
            found = next((r for r in reversed(rows.all()) if _is_incident(r)), None)
            if found is None:
                return None
            message = {**found["message"], ACK: {"by": by, "at": at.isoformat()}}
            conn.execute(
                update(watch_event).where(watch_event.c.id == found["id"]).values(message=message)
            )
        return _owed({**found, "message": message})

    def event_closed(self, event_id: int) -> None:
        """What the event was about is over (a request answered): its post says so, or it is
        never posted."""
        self._set_event(event_id, state=CLOSED)

    def resolve_event(
        self, event_id: int, *, resolved: dict[str, Any], thread: NewEvent | None
    ) -> None:
        """What the alert told of is over. Not posted yet: it will be posted as ``resolved``
        reads (one message, no thread). Posted: ``thread`` (a reply in its thread, which also
        puts ``resolved`` in its place) is recorded, once. Both in one transaction."""
        now = clock.now()
        with self._db.begin() as conn:
            row = conn.execute(
                select(watch_event.c.state, watch_event.c.deployment)
                .where(watch_event.c.id == event_id, watch_event.c.closed_at.is_(None))
            ).first()  # fmt: skip
            if row is None:
                return  # resolved already
            values: dict[str, Any] = {"closed_at": now}
            if row.state == PENDING:
                values["message"] = resolved
            elif thread is not None:
                _insert_events(conn, row.deployment, [thread], now)
            conn.execute(update(watch_event).where(watch_event.c.id == event_id).values(values))

    def event_by_id(self, event_id: int) -> OwedEvent | None:
        with self._db.connect() as conn:
            row = conn.execute(select(watch_event).where(watch_event.c.id == event_id))
            found = row.mappings().one_or_none()
        return _owed(found) if found is not None else None

    def has_event(
        self, channel_id: str, deployment: str, dag_id: str, run_id: str, event: str
    ) -> bool:
        key = _key(channel_id, deployment, dag_id, run_id, event)
        with self._db.connect() as conn:
            return conn.execute(select(watch_event.c.id).where(*key)).first() is not None

    def owed_events(self, deployment: str, *, limit: int = 50) -> list[OwedEvent]:
        """Events recorded and not yet posted whose next try is due, oldest first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(watch_event)
                .where(
                    watch_event.c.deployment == deployment,
                    watch_event.c.state == PENDING,
                    watch_event.c.next_try_at <= clock.now(),
                )
                .order_by(watch_event.c.id)
                .limit(limit)
            ).mappings().all()  # fmt: skip
        return [_owed(row) for row in rows]

    def owed_deployments(self) -> set[str]:
        """Deployments with events still owed to a channel."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(watch_event.c.deployment).where(watch_event.c.state == PENDING).distinct()
            ).scalars()
            return set(rows)

    def event_posted(self, event_id: int, message_ts: str) -> None:
        self._set_event(event_id, state=POSTED, posted_at=clock.now(), message_ts=message_ts)

    def event_undeliverable(self, event_id: int, error: str) -> None:
        self._set_event(event_id, state=UNDELIVERABLE, error=error[:64])

    def event_retry(self, event_id: int, *, delay_seconds: float, error: str) -> None:
        self._set_event(
            event_id,
            next_try_at=clock.now() + timedelta(seconds=delay_seconds),
            attempts=watch_event.c.attempts + 1,
            error=error[:64],
        )

    def watch_events(self) -> list[dict[str, Any]]:
        """Every event row, oldest first: for tests and the operator's curiosity."""
        with self._db.connect() as conn:
            rows = conn.execute(select(watch_event).order_by(watch_event.c.id)).mappings().all()
        return [dict(row) for row in rows]

    def _set_event(self, event_id: int, **values: Any) -> None:
        with self._db.begin() as conn:
            conn.execute(update(watch_event).where(watch_event.c.id == event_id).values(values))


def _owed(row: Any) -> OwedEvent:
    return OwedEvent(
        id=row["id"],
        channel_id=row["channel_id"],
        deployment=row["deployment"],
        dag_id=row["dag_id"],
        run_id=row["run_id"],
        event=row["event"],
        message=dict(row["message"]),
        created_at=clock.utc(row["created_at"]),
        attempts=row["attempts"],
        message_ts=row["message_ts"],
        state=row["state"],
        closed_at=clock.utc(row["closed_at"]) if row["closed_at"] is not None else None,
    )


def _key(channel_id: str, deployment: str, dag_id: str, run_id: str, event: str) -> Any:
    return (*_key_but_run(channel_id, deployment, dag_id, event), watch_event.c.run_id == run_id)


def _key_but_run(channel_id: str, deployment: str, dag_id: str, event: str) -> Any:
    return (
        watch_event.c.channel_id == channel_id,
        watch_event.c.deployment == deployment,
        watch_event.c.dag_id == dag_id,
        watch_event.c.event == event,
    )


def _alive(*where: Any) -> Any:
    """The rows still pending or posted that match ``where``, oldest first."""
    return (
        select(watch_event)
        .where(watch_event.c.state.in_((PENDING, POSTED)), *where)
        .order_by(watch_event.c.id)
    )


def _is_incident(row: Any) -> bool:
    """An incident's own post, not a reply in its thread."""
    return "thread_of" not in row["message"]


def _insert_events(conn: Any, deployment: str, events: Sequence[NewEvent], now: datetime) -> None:
    for event in events:
        key = _key(event.channel_id, deployment, event.dag_id, event.run_id, event.event)
        if conn.execute(select(watch_event.c.id).where(*key)).first() is not None:
            continue  # recorded already: a round read again after a crash
        message = event.message
        parent = _parent_id(conn, deployment, event)
        if "thread_of" in message:
            message = {**message, "thread_of": parent}
        conn.execute(
            insert(watch_event).values(
                channel_id=event.channel_id,
                deployment=deployment,
                dag_id=event.dag_id,
                run_id=event.run_id,
                event=event.event,
                message=message,
                state=CLOSED if event.marker else PENDING,
                closed_at=now if event.marker or event.closed else None,
                created_at=now,
                next_try_at=now,
                attempts=0,
            )
        )
        if parent is not None:
            _update_parent(conn, parent, event, now)


def _parent_id(conn: Any, deployment: str, event: NewEvent) -> int | None:
    """The id of the post ``event`` replies to: given, or that of an event recorded in the
    same call (by its run_id and event, in the same channel and DAG)."""
    ref = event.message.get("thread_of")
    if ref is None or isinstance(ref, int):
        return ref
    key = _key(event.channel_id, deployment, event.dag_id, str(ref["run_id"]), str(ref["event"]))
    found: int | None = conn.execute(select(watch_event.c.id).where(*key)).scalar()
    return found


def _update_parent(conn: Any, parent: int, event: NewEvent, now: datetime) -> None:
    """What a reply newly recorded does to the post it replies to: its ``replace`` is the
    post's message from now on (so a post still owed goes as it now reads), and its ``then``
    closes or reopens the incident."""
    values: dict[str, Any] = {}
    if "replace" in event.message:
        now_reads = conn.execute(select(watch_event.c.message).where(watch_event.c.id == parent))
        ack = (now_reads.scalar() or {}).get(ACK)
        values["message"] = {**event.message["replace"], **({ACK: ack} if ack else {})}
    if event.then == CLOSE:
        values["closed_at"] = now
    elif event.then == REOPEN:
        values["closed_at"] = None
    if values:
        conn.execute(update(watch_event).where(watch_event.c.id == parent).values(values))
