"""The requests acknowledged and not done, as each process's request journal moves them here
from its file on local disk (bot/slack/journal.py), so that another process, on this machine
or another, can carry on with them.

A row is leased to the process doing its request, which renews the lease while it lives. One
whose lease lapsed (its process died with its machine) or that was released (its process is
stopping) is taken by the next process that looks, by one conditional UPDATE, so one process
carries it on. A request done is kept a day as done (``done_at``): a journal file replayed
late does not do it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from bot.store import clock
from bot.store.engine import Database
from bot.store.schema import journaled_request as table


@dataclass(frozen=True)
class JournaledRequest:
    key: str  # what makes it run once: Slack's signature, or a Socket Mode body's digest
    body: str
    headers: Mapping[str, Sequence[str]]
    received_at: datetime
    wrote: bool = False  # a write may have reached Airflow: not to be sent again


class JournaledRequests:
    """``Store``'s journal methods (``Store`` sets ``_db``)."""

    _db: Database

    def journal_requests(
        self,
        owner: str,
        *,
        lease_seconds: float,
        accepted: Sequence[JournaledRequest] = (),
        wrote: Sequence[str] = (),
        done: Sequence[str] = (),
    ) -> None:
        """One batch of a process's journal, in one transaction: requests it accepted (leased
        to it; one already here, handed to it, stays as it is), requests that may have sent
        Airflow a write, and requests done."""
        now = clock.now()
        with self._db.begin() as conn:
            if accepted:
                rows = [_values(r, owner=owner, until=now + timedelta(seconds=lease_seconds))
                        for r in accepted]  # fmt: skip
                conn.execute(self._insert().on_conflict_do_nothing(), rows)
            if wrote:
                conn.execute(update(table).where(table.c.request_key.in_(wrote)).values(wrote=True))
            if done:
                conn.execute(
                    update(table)
                    .where(table.c.request_key.in_(done))
                    .values(done_at=now, lease_owner=None, lease_until=None)
                )

    def renew_journaled(self, owner: str, *, lease_seconds: float) -> int:
        """Renew the leases of the requests ``owner`` is doing; how many it holds."""
        until = clock.now() + timedelta(seconds=lease_seconds)
        with self._db.begin() as conn:
            mine = (table.c.lease_owner == owner) & table.c.done_at.is_(None)
            return int(conn.execute(update(table).where(mine).values(lease_until=until)).rowcount)

    def release_journaled(self, owner: str, keys: Sequence[str]) -> int:
        """``owner`` stops: its requests ``keys`` are free for any process at once."""
        if not keys:
            return 0
        with self._db.begin() as conn:
            mine = (table.c.lease_owner == owner) & table.c.done_at.is_(None)
            return int(
                conn.execute(
                    update(table)
                    .where(mine, table.c.request_key.in_(keys))
                    .values(lease_owner=None, lease_until=None)
                ).rowcount
            )

    def free_journaled(self, dead_owner: str, requests: Sequence[JournaledRequest]) -> None:
        """The requests a dead process's journal file says it had not done: free for any
        process, unless another took one already (its lease lapsed) or it is done."""
        if not requests:
            return
        stmt = self._insert()
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.request_key],
            set_={
                "lease_owner": None,
                "lease_until": None,
                "wrote": table.c.wrote | stmt.excluded.wrote,
            },
            where=(table.c.lease_owner == dead_owner) & table.c.done_at.is_(None),
        )
        with self._db.begin() as conn:
            conn.execute(stmt, [_values(r, owner=None, until=None) for r in requests])

    def take_journaled(
        self, owner: str, *, lease_seconds: float, limit: int = 50
    ) -> list[JournaledRequest]:
        """Requests free to carry on (released, or their process's lease lapsed), now leased
        to ``owner``: each to one process only."""
        now = clock.now()
        free = table.c.done_at.is_(None) & (
            table.c.lease_owner.is_(None) | (table.c.lease_until < now)
        )
        with self._db.connect() as conn:
            keys = (
                conn.execute(
                    select(table.c.request_key)
                    .where(free)
                    .order_by(table.c.received_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        taken = []
        for key in keys:
            with self._db.begin() as conn:
                if conn.execute(
                    update(table)
                    .where(table.c.request_key == key, free)
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
                ).rowcount:
                    taken.append(_read(conn, table.c.request_key == key))
        return taken

    def journaled(self, key: str) -> tuple[JournaledRequest, str | None, bool] | None:
        """The request, who holds it, and whether it is done (for tests and the doctor)."""
        with self._db.connect() as conn:
            r = conn.execute(select(table).where(table.c.request_key == key)).one_or_none()
        if r is None:
            return None
        return _from(r), r.lease_owner, r.done_at is not None

    def _insert(self) -> Any:
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        return dialect.insert(table)


def _values(r: JournaledRequest, *, owner: str | None, until: datetime | None) -> dict[str, Any]:
    return {
        "request_key": r.key,
        "body": r.body,
        "headers": {k: list(v) for k, v in r.headers.items()},
        "received_at": r.received_at,
        "wrote": r.wrote,
        "lease_owner": owner,
        "lease_until": until,
        "done_at": None,
    }


def _read(conn: Connection, where: ColumnElement[bool]) -> JournaledRequest:
    return _from(conn.execute(select(table).where(where)).one())


def _from(r: Any) -> JournaledRequest:
    return JournaledRequest(
        key=r.request_key,
        body=r.body,
        headers=dict(r.headers),
        received_at=clock.utc(r.received_at),
        wrote=bool(r.wrote),
    )
