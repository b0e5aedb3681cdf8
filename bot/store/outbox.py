"""The outbox: every message the bot owes Slack, recorded before it is sent, and the requests a
stopping process handed over to the next.

A message is added in the state ``sending``, leased to the process that will try it at once,
or ``pending`` when an earlier message of its thread is not done yet (it goes after it). A
process takes what is due by one conditional UPDATE per row, so each try is one process's;
a row left ``sending`` by a process that died is taken over once its lease lapses, and is then
marked ``unknown``: that try may have reached Slack, which is looked up before sending again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import handed_over, outbox

SENDING, PENDING, SENT, FAILED = "sending", "pending", "sent", "failed"
UNSENT = (SENDING, PENDING)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    order_key: str
    payload: dict[str, Any]
    state: str
    unknown: bool
    attempts: int
    created_at: datetime
    give_up_at: datetime
    ts: str | None = None
    key: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class HandedOver:
    id: int
    body: str
    headers: dict[str, list[str]]
    received_at: datetime


class Outbox:
    """``Store``'s outbox methods (``Store`` sets ``_db``)."""

    _db: Database

    def add_message(
        self,
        kind: str,
        order_key: str,
        payload: Mapping[str, Any],
        *,
        owner: str,
        give_up_at: datetime,
        lease_seconds: float,
        key: str | None = None,
    ) -> tuple[OutboxRow, bool]:
        """Record a message; returns it and whether the caller may send it now (it is first in
        its thread, and leased to ``owner``). A ``key`` already recorded returns that message,
        never to be sent by this caller."""
        now = clock.now()
        try:
            with self._db.begin() as conn:
                if self._db.dialect == "postgresql":
                    # Two processes adding to one thread at once would each count nothing
                    # before them (SQLite's writers take turns by themselves).
                    conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(order_key))))
                earlier = conn.execute(
                    select(func.count()).where(
                        outbox.c.order_key == order_key, outbox.c.state.in_(UNSENT)
                    )
                ).scalar_one()
                first = earlier == 0
                row_id = conn.execute(
                    insert(outbox).values(
                        key=key,
                        kind=kind,
                        order_key=order_key,
                        payload=dict(payload),
                        state=SENDING if first else PENDING,
                        unknown=False,
                        attempts=0,
                        created_at=now,
                        give_up_at=give_up_at,
                        next_try_at=now,
                        lease_owner=owner if first else None,
                        lease_until=now + timedelta(seconds=lease_seconds) if first else None,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                return _row(conn, int(row_id)), first
        except StoreConflict:
            found = self.message_by_key(key) if key is not None else None
            if found is None:
                raise
            return found, False

    def take_due_messages(
        self, owner: str, *, lease_seconds: float, limit: int = 50
    ) -> list[OutboxRow]:
        """Lease the messages due now whose thread has nothing earlier left to send, oldest
        first. One left ``sending`` past its lease comes back ``unknown``."""
        now = clock.now()
        due = and_(outbox.c.state == PENDING, outbox.c.next_try_at <= now) | and_(
            outbox.c.state == SENDING, outbox.c.lease_until < now
        )
        # Only the first unsent message of each thread: those behind it would fill the page.
        with self._db.connect() as conn:
            rows = conn.execute(
                select(outbox).where(due, ~_waits_behind()).order_by(outbox.c.id).limit(limit)
            ).all()
        taken: list[OutboxRow] = []
        for row in rows:
            with self._db.begin() as conn:
                # Still due, and still first of its thread: another process may have been
                # quicker.
                claimed = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id, due, ~_waits_behind())
                    .values(
                        state=SENDING,
                        unknown=case((outbox.c.state == SENDING, True), else_=outbox.c.unknown),
                        lease_owner=owner,
                        lease_until=now + timedelta(seconds=lease_seconds),
                    )
                ).rowcount
                if claimed:
                    taken.append(_row(conn, row.id))
        return taken

    def renew_message_lease(self, message_id: int, owner: str, *, lease_seconds: float) -> bool:
        """Just before a try: False when the lease lapsed (another process may have it now)."""
        now = clock.now()
        return self._update_leased(
            message_id, owner, outbox.c.lease_until > now,
            lease_until=now + timedelta(seconds=lease_seconds),
        )  # fmt: skip

    def message_sent(self, message_id: int, owner: str, ts: str | None) -> None:
        self._finish(message_id, owner, state=SENT, ts=ts, error=None)

    def message_failed(self, message_id: int, owner: str, error: str) -> None:
        self._finish(message_id, owner, state=FAILED, ts=None, error=error[:64])

    def retry_message(
        self, message_id: int, owner: str, *, at: datetime, error: str, unknown: bool
    ) -> None:
        self._update_leased(
            message_id, owner, state=PENDING, next_try_at=at, error=error[:64],
            attempts=outbox.c.attempts + 1, lease_owner=None, lease_until=None,
            unknown=outbox.c.unknown | unknown,
        )  # fmt: skip

    def message(self, message_id: int) -> OutboxRow | None:
        return self._message_where(outbox.c.id == message_id)

    def messages_owed_now(self) -> int:
        """Messages being tried, or waiting for their first try behind their thread: what the
        bot is still saying (not those Slack refused, waiting out their backoff)."""
        now = clock.now()
        owed = (outbox.c.state == SENDING) | and_(
            outbox.c.state == PENDING,
            outbox.c.attempts == 0,
            outbox.c.next_try_at <= now,
            ~_waits_behind(),
        )
        with self._db.connect() as conn:
            return int(conn.execute(select(func.count()).where(owed)).scalar_one())

    def message_by_key(self, key: str) -> OutboxRow | None:
        return self._message_where(outbox.c.key == key)

    def messages(self) -> list[OutboxRow]:
        with self._db.connect() as conn:
            return [_from(r) for r in conn.execute(select(outbox).order_by(outbox.c.id))]

    def _message_where(self, where: ColumnElement[bool]) -> OutboxRow | None:
        with self._db.connect() as conn:
            found = conn.execute(select(outbox).where(where)).first()
        return _from(found) if found else None

    def _finish(
        self, message_id: int, owner: str, *, state: str, ts: str | None, error: str | None
    ) -> None:
        # Only its ts and state are read once it is done, and its payload may hold a
        # response_url: the payload goes.
        self._update_leased(
            message_id, owner, state=state, ts=ts, error=error, done_at=clock.now(),
            payload={}, lease_owner=None, lease_until=None,
        )  # fmt: skip

    def _update_leased(
        self, message_id: int, owner: str, *also: ColumnElement[bool], **values: Any
    ) -> bool:
        """Change a message only while ``owner`` holds its lease (a lapsed holder's late word
        counts for nothing); True if it did."""
        mine = and_(outbox.c.id == message_id, outbox.c.lease_owner == owner, *also)
        with self._db.begin() as conn:
            return bool(conn.execute(update(outbox).where(mine).values(**values)).rowcount)

    # -- requests handed over at shutdown -----------------------------------------------------

    def hand_over(self, requests: Sequence[tuple[str, Mapping[str, Sequence[str]]]]) -> int:
        """Record requests (raw body, headers) for another process to carry out."""
        if not requests:
            return 0
        now = clock.now()
        with self._db.begin() as conn:
            conn.execute(
                insert(handed_over),
                [
                    {
                        "body": body,
                        "headers": {k: list(v) for k, v in headers.items()},
                        "received_at": now,
                    }
                    for body, headers in requests
                ],
            )
        return len(requests)

    def take_handed_over(
        self, owner: str, *, lease_seconds: float, limit: int = 50
    ) -> list[HandedOver]:
        now = clock.now()
        free = handed_over.c.lease_owner.is_(None) | (handed_over.c.lease_until < now)
        with self._db.connect() as conn:
            ids = (
                conn.execute(
                    select(handed_over.c.id).where(free).order_by(handed_over.c.id).limit(limit)
                )
                .scalars()
                .all()
            )
        taken = []
        for row_id in ids:
            with self._db.begin() as conn:
                if conn.execute(
                    update(handed_over)
                    .where(handed_over.c.id == row_id, free)
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
                ).rowcount:
                    r = conn.execute(select(handed_over).where(handed_over.c.id == row_id)).one()
                    taken.append(
                        HandedOver(r.id, r.body, dict(r.headers), clock.utc(r.received_at))
                    )
        return taken

    def handed_over_done(self, request_id: int) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(handed_over).where(handed_over.c.id == request_id))


def _waits_behind() -> ColumnElement[bool]:
    """An outbox row has an earlier message of its thread not sent yet."""
    earlier = outbox.alias("earlier")
    return exists().where(
        earlier.c.order_key == outbox.c.order_key,
        earlier.c.id < outbox.c.id,
        earlier.c.state.in_(UNSENT),
    )


def _row(conn: Connection, row_id: int) -> OutboxRow:
    return _from(conn.execute(select(outbox).where(outbox.c.id == row_id)).one())


def _from(r: Any) -> OutboxRow:
    return OutboxRow(
        id=r.id,
        kind=r.kind,
        order_key=r.order_key,
        payload=dict(r.payload),
        state=r.state,
        unknown=bool(r.unknown),
        attempts=r.attempts,
        created_at=clock.utc(r.created_at),
        give_up_at=clock.utc(r.give_up_at),
        ts=r.ts,
        key=r.key,
        error=r.error,
    )
