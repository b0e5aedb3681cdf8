"""Stored actions: what a button (or a pending confirmation or approval) stands for.

A button's value is only a row's unguessable id, so a click can name an action but never
describe one; and a click is decided by one conditional UPDATE, so that of any number of
simultaneous clicks exactly one acts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import pending_action


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


class ActionIssuer(Protocol):
    """Keeping the actions a reply's buttons stand for (bot/core/buttons.py's ``seal``)."""

    def add_actions(self, actions: Sequence[NewAction]) -> list[str]: ...


class ActionLookup(Protocol):
    """Reading a stored action back by its id."""

    def action(self, action_id: str) -> PendingAction | None: ...


class ActionDecisions(ActionLookup, Protocol):
    """Deciding a click on a prompt, once (bot/core/approvals.py)."""

    def claim_action(
        self, action_id: str, *, from_state: str, to_state: str, **changes: Any
    ) -> PendingAction | None: ...

    def update_action(self, action_id: str, **changes: Any) -> None: ...


class ActionClaims(ActionLookup, Protocol):
    """Making the clicks of many posts one answer (bot/core/answer_claims.py)."""

    def claim_once(
        self, action_id: str, template: NewAction, *, from_state: str, to_state: str, **changes: Any
    ) -> PendingAction | None: ...

    def reclaim_stale(
        self, action_id: str, *, state: str, decided_before: datetime, **changes: Any
    ) -> PendingAction | None: ...

    def update_action(self, action_id: str, **changes: Any) -> None: ...


class StoredActions:
    """``Store``'s stored action methods (``Store`` sets ``_db``)."""

    _db: Database

    def add_actions(self, actions: Sequence[NewAction]) -> list[str]:
        """Keep these actions; returns their ids (unguessable), in order, for button values."""
        now = clock.now()
        rows = [_row(a, now) for a in actions]
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

    def claim_once(
        self, action_id: str, template: NewAction, *, from_state: str, to_state: str, **changes: Any
    ) -> PendingAction | None:
        """``claim_action`` on a row of a known id, made from ``template`` the first time: for
        something many buttons stand for (a waiting task answered from any of its posts)."""
        if self.action(action_id) is None:
            row = _row(template, clock.now())
            row["id"] = action_id
            try:
                with self._db.begin() as conn:
                    conn.execute(insert(pending_action).values(row))
            except StoreConflict:
                pass  # made at the same moment by another click: claimed below, once
        return self.claim_action(action_id, from_state=from_state, to_state=to_state, **changes)

    def reclaim_stale(
        self, action_id: str, *, state: str, decided_before: datetime, **changes: Any
    ) -> PendingAction | None:
        """Take over an action left in ``state`` since before ``decided_before`` (its process
        died mid-way), atomically: the first taker moves ``decided_at`` to now, so of any
        number of takers one succeeds."""
        now = clock.now()
        with self._db.begin() as conn:
            won = (
                conn.execute(
                    update(pending_action)
                    .where(
                        pending_action.c.id == action_id,
                        pending_action.c.state == state,
                        pending_action.c.decided_at < decided_before,
                    )
                    .values(decided_at=now, **changes)
                ).rowcount
                == 1
            )
        return self.action(action_id) if won else None

    def update_action(self, action_id: str, **changes: Any) -> None:
        with self._db.begin() as conn:
            conn.execute(
                update(pending_action).where(pending_action.c.id == action_id).values(**changes)
            )


def _row(a: NewAction, now: datetime) -> dict[str, Any]:
    return {
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
