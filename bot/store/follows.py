"""Followed runs: the DAG runs the bot started, checked until they end, their thread told of
each state once.

Any process may check a run: it first takes the row's lease (one conditional UPDATE, so each
row goes to one process), and another takes the row over once the lease lapses (its holder
died).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.schema import followed_run

FOLLOWING = ("queued", "running")  # reported states of a follow still under way


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


class FollowsTable(Protocol):
    """The followed runs as the follower uses them (bot/core/follower.py)."""

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
        reported: str = ...,
        first_check_in: float = ...,
    ) -> None: ...

    def take_due_follows(
        self, owner: str, *, lease_seconds: float, limit: int = ...
    ) -> list[Follow]: ...

    def report_follow(self, follow_id: int, owner: str, *, before: str, after: str) -> bool: ...

    def check_follow_later(self, follow_id: int, owner: str, delay_seconds: float) -> None: ...


class FollowedRuns:
    """``Store``'s followed run methods (``Store`` sets ``_db``)."""

    _db: Database

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
