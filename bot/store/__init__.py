"""The state store: the audit trail (and, later, pending actions and followed runs).

One small interface over SQLAlchemy Core, so the same code runs on a SQLite file (the
default: nothing to set up) and on PostgreSQL (``DATABASE_URL``, which Heroku sets in its
``postgres://`` form). The schema is versioned: ``migrate()`` applies the steps a database has
not had yet, in order, and is safe to run from several processes at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from bot.store import clock, schema
from bot.store.engine import Database, engine_for, normalise_url
from bot.store.schema import (
    MIGRATIONS,
    audit_log,
    followed_run,
    metadata,
    pending_action,
    schema_version,
    seen_request,
)

FOLLOWING = ("queued", "running")
PRUNE_BATCH = 5000  # rows deleted in one transaction  # reported states of a follow still under way


@dataclass(frozen=True)
class AuditEntry:
    """One command or button action as recorded; ``ok`` is None while it is unfinished."""

    id: int
    at: datetime
    user_id: str
    channel_id: str
    source: str
    verb: str
    deployment: str | None
    dag_id: str | None
    logical_date: datetime | None
    conf: dict[str, Any] | None
    text: str | None
    allowed: bool
    finished_at: datetime | None
    ok: bool | None
    outcome: str | None
    run_id: str | None
    error: str | None


@dataclass(frozen=True)
class NewAction:
    """An action to keep until a button naming it is clicked."""

    verb: str
    state: str
    user_id: str
    channel_id: str
    ttl_seconds: float
    thread_ts: str | None = None
    deployment: str | None = None
    dag_id: str | None = None
    logical_date: datetime | None = None
    conf: dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingAction:
    id: str
    verb: str
    state: str
    user_id: str
    channel_id: str
    thread_ts: str | None
    message_ts: str | None
    deployment: str | None
    dag_id: str | None
    logical_date: datetime | None
    conf: dict[str, Any] | None
    args: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    confirmed_by: str | None
    approved_by: str | None
    decided_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    run_id: str | None

    def expired(self, now: datetime | None = None) -> bool:
        return (now or clock.now()) >= self.expires_at


@dataclass(frozen=True)
class Follow:
    id: int
    deployment: str
    dag_id: str
    run_id: str
    channel_id: str
    thread_ts: str | None
    header: str | None
    requested_by: str
    reported: str
    created_at: datetime
    give_up_at: datetime
    checks: int


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
    audit: timedelta | None = None  # None: the audit trail is kept for ever


class Store:
    def __init__(self, database_url: str) -> None:
        self.url = normalise_url(database_url)
        self._engine = engine_for(self.url)
        self._db = Database(self._engine)

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def close(self) -> None:
        self._engine.dispose()

    def schema_version(self) -> int:
        return schema.installed_version(self._db)

    def migrate(self) -> int:
        """Apply every migration step the database lacks; returns the version now in place.

        Steps and the version row commit together, and concurrent callers are serialised (a
        PostgreSQL advisory lock; SQLite's write lock), so each step runs exactly once.
        """
        return schema.migrate(self._db)

    # -- audit trail ---------------------------------------------------------------------

    def begin_audit(
        self,
        *,
        user_id: str,
        channel_id: str,
        verb: str,
        deployment: str | None,
        dag_id: str | None,
        logical_date: datetime | None,
        conf: dict[str, Any] | None,
        source: str = "slash",
        allowed: bool = True,
        text: str | None = None,
    ) -> int:
        """Record an action before it is carried out; returns the entry's id for end_audit."""
        values = {
            "at": clock.now(),
            "user_id": user_id,
            "channel_id": channel_id,
            "source": source,
            "verb": verb,
            "deployment": deployment,
            "dag_id": dag_id,
            "logical_date": logical_date.astimezone(UTC) if logical_date else None,
            "conf": conf,
            "text": text,
            "allowed": allowed,
        }
        with self._db.begin() as conn:
            result = conn.execute(insert(audit_log).values(values).returning(audit_log.c.id))
            return int(result.scalar_one())

    def end_audit(
        self,
        entry_id: int,
        *,
        ok: bool,
        outcome: str,
        run_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._db.begin() as conn:
            conn.execute(
                update(audit_log)
                .where(audit_log.c.id == entry_id)
                .values(finished_at=clock.now(), ok=ok, outcome=outcome, run_id=run_id, error=error)
            )

    def audit(
        self, *, limit: int = 100, user_id: str | None = None, since: datetime | None = None
    ) -> list[AuditEntry]:
        """The newest entries first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(audit_log.c.user_id == user_id)
        if since is not None:
            query = query.where(audit_log.c.at >= since.astimezone(UTC))
        with self._db.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_entry(row) for row in rows]

    # -- pending actions (what buttons stand for) --------------------------------------

    def add_actions(self, actions: Sequence[NewAction]) -> list[str]:
        """Keep these actions; returns their ids (unguessable), in order, for button values."""
        now = clock.now()
        rows = [
            {
                "id": secrets.token_hex(12),
                "verb": a.verb,
                "state": a.state,
                "user_id": a.user_id,
                "channel_id": a.channel_id,
                "thread_ts": a.thread_ts,
                "deployment": a.deployment,
                "dag_id": a.dag_id,
                "logical_date": a.logical_date.astimezone(UTC) if a.logical_date else None,
                "conf": a.conf,
                "args": a.args,
                "created_at": now,
                "expires_at": now + timedelta(seconds=a.ttl_seconds),
            }
            for a in actions
        ]
        if rows:
            with self._db.begin() as conn:
                conn.execute(insert(pending_action), rows)
        return [str(row["id"]) for row in rows]

    def action(self, action_id: str) -> PendingAction | None:
        with self._db.connect() as conn:
            row = (
                conn.execute(select(pending_action).where(pending_action.c.id == action_id))
                .mappings()
                .first()
            )
        return None if row is None else _action(row)

    def claim_action(
        self, action_id: str, *, from_state: str, to_state: str, **changes: Any
    ) -> PendingAction | None:
        """Move an unexpired action from one state to the next, atomically; None if it was
        not in ``from_state`` (someone else's click got there first) or has expired.

        One UPDATE with the old state in its WHERE: of any number of simultaneous clicks, in
        any number of processes, exactly one changes the row.
        """
        now = clock.now()
        with self._db.begin() as conn:
            result = conn.execute(
                update(pending_action)
                .where(
                    pending_action.c.id == action_id,
                    pending_action.c.state == from_state,
                    pending_action.c.expires_at > now,
                )
                .values(state=to_state, **changes)
            )
            won = result.rowcount == 1
        return self.action(action_id) if won else None

    def update_action(self, action_id: str, **changes: Any) -> None:
        with self._db.begin() as conn:
            conn.execute(
                update(pending_action).where(pending_action.c.id == action_id).values(**changes)
            )

    # -- followed runs -----------------------------------------------------------------

    def add_follow(
        self,
        *,
        deployment: str,
        dag_id: str,
        run_id: str,
        channel_id: str,
        thread_ts: str | None,
        header: str | None,
        requested_by: str,
        limit_seconds: float,
        reported: str = "queued",
        first_check_in: float = 0.0,
    ) -> None:
        """Follow a run until it ends (or ``limit_seconds`` pass); following it again (a
        cleared run) starts over."""
        now = clock.now()
        values = {
            "channel_id": channel_id,
            "thread_ts": thread_ts,
            "header": header,
            "requested_by": requested_by,
            "reported": reported,
            "created_at": now,
            "give_up_at": now + timedelta(seconds=limit_seconds),
            "next_check_at": now + timedelta(seconds=first_check_in),
            "lease_owner": None,
            "lease_until": None,
            "checks": 0,
        }
        key = {"deployment": deployment, "dag_id": dag_id, "run_id": run_id}
        with self._db.begin() as conn:
            updated = conn.execute(
                update(followed_run)
                .where(*(followed_run.c[k] == v for k, v in key.items()))
                .values(values)
            )
            if updated.rowcount == 0:
                conn.execute(insert(followed_run).values({**key, **values}))

    def take_due_follows(
        self, owner: str, *, lease_seconds: float, limit: int = 50
    ) -> list[Follow]:
        """Lease the follows due for a check that nobody else holds; returns those now ours.

        A lease is taken by one conditional UPDATE per row: when several processes look at
        once, each row goes to exactly one of them.
        """
        now = clock.now()
        free = (
            followed_run.c.lease_owner.is_(None)
            | (followed_run.c.lease_until < now)
            | (followed_run.c.lease_owner == owner)
        )
        due = (
            followed_run.c.reported.in_(FOLLOWING),
            followed_run.c.next_check_at <= now,
        )
        with self._db.connect() as conn:
            ids = conn.execute(
                select(followed_run.c.id).where(*due, free).order_by(followed_run.c.next_check_at)
                .limit(limit)
            ).scalars().all()  # fmt: skip
        taken: list[Follow] = []
        for follow_id in ids:
            with self._db.begin() as conn:
                won = conn.execute(
                    update(followed_run)
                    .where(followed_run.c.id == follow_id, *due, free)
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
                ).rowcount
                if won == 1:
                    row = conn.execute(select(followed_run).where(followed_run.c.id == follow_id))
                    taken.append(_follow(row.mappings().one()))
        return taken

    def report_follow(self, follow_id: int, owner: str, *, before: str, after: str) -> bool:
        """Record that the thread is told ``after``; False if someone else already told it
        (or our lease was taken over), so that each state is reported exactly once."""
        with self._db.begin() as conn:
            return conn.execute(
                update(followed_run)
                .where(
                    followed_run.c.id == follow_id,
                    followed_run.c.reported == before,
                    followed_run.c.lease_owner == owner,
                )
                .values(reported=after)
            ).rowcount == 1  # fmt: skip

    def check_follow_later(self, follow_id: int, owner: str, delay_seconds: float) -> None:
        with self._db.begin() as conn:
            conn.execute(
                update(followed_run)
                .where(followed_run.c.id == follow_id, followed_run.c.lease_owner == owner)
                .values(
                    next_check_at=clock.now() + timedelta(seconds=delay_seconds),
                    checks=followed_run.c.checks + 1,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def follows(self) -> list[Follow]:
        with self._db.connect() as conn:
            rows = conn.execute(select(followed_run).order_by(followed_run.c.id)).mappings().all()
        return [_follow(row) for row in rows]

    # -- replayed requests ---------------------------------------------------------------

    def first_time(self, signature: str) -> bool:
        """True the first time a request signature is seen (in any process on this store)."""
        try:
            with self._db.begin() as conn:
                conn.execute(insert(seen_request).values(signature=signature[:80], at=clock.now()))
        except IntegrityError:
            return False
        return True

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
        tables = (audit_log, pending_action, followed_run, seen_request)
        with self._db.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in tables
            }

    def audit_count(self) -> int:
        with self._db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=clock.utc(row["at"]),
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        source=row["source"],
        verb=row["verb"],
        deployment=row["deployment"],
        dag_id=row["dag_id"],
        logical_date=clock.utc(row["logical_date"]) if row["logical_date"] else None,
        conf=row["conf"],
        text=row["text"],
        allowed=bool(row["allowed"]),
        finished_at=clock.utc(row["finished_at"]) if row["finished_at"] else None,
        ok=None if row["ok"] is None else bool(row["ok"]),
        outcome=row["outcome"],
        run_id=row["run_id"],
        error=row["error"],
    )


def _follow(row: Any) -> Follow:
    return Follow(
        id=row["id"],
        deployment=row["deployment"],
        dag_id=row["dag_id"],
        run_id=row["run_id"],
        channel_id=row["channel_id"],
        thread_ts=row["thread_ts"],
        header=row["header"],
        requested_by=row["requested_by"],
        reported=row["reported"],
        created_at=clock.utc(row["created_at"]),
        give_up_at=clock.utc(row["give_up_at"]),
        checks=row["checks"],
    )


def _action(row: Any) -> PendingAction:
    def when(value: datetime | None) -> datetime | None:
        return clock.utc(value) if value else None

    return PendingAction(
        id=row["id"],
        verb=row["verb"],
        state=row["state"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        thread_ts=row["thread_ts"],
        message_ts=row["message_ts"],
        deployment=row["deployment"],
        dag_id=row["dag_id"],
        logical_date=when(row["logical_date"]),
        conf=row["conf"],
        args=dict(row["args"] or {}),
        created_at=clock.utc(row["created_at"]),
        expires_at=clock.utc(row["expires_at"]),
        confirmed_by=row["confirmed_by"],
        approved_by=row["approved_by"],
        decided_at=when(row["decided_at"]),
        finished_at=when(row["finished_at"]),
        outcome=row["outcome"],
        run_id=row["run_id"],
    )


__all__ = [
    "MIGRATIONS",
    "AuditEntry",
    "Follow",
    "NewAction",
    "PendingAction",
    "Store",
    "normalise_url",
    "schema_version",
]
