"""The audit trail: one row per command or button action, written before the action is
carried out and completed after it, so that an action that never finished still shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.schema import audit_log


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


class AuditWriter(Protocol):
    """The audit trail as the core writes it (bot/core/audit.py): an entry begun, then ended."""

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
        source: str = ...,
        allowed: bool = ...,
        text: str | None = ...,
    ) -> int: ...

    def end_audit(
        self,
        entry_id: int,
        *,
        ok: bool,
        outcome: str,
        run_id: str | None = ...,
        error: str | None = ...,
    ) -> None: ...


class AuditTrail:
    """``Store``'s audit trail methods (``Store`` sets ``_db``)."""

    _db: Database

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
