"""What the watch has learned of each DAG (the ``dag_history`` table): the durations of its last
successful runs, whose median is its usual duration (the automatic limit of ``long``), and when
its last success ended (``late``). Learned from the runs the watch reads anyway, or read from
Airflow once for a DAG first met; a cache, so any process may write it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import dag_history

KEPT = 10  # the successful runs whose median is the usual duration


@dataclass(frozen=True)
class DagHistory:
    dag_id: str
    durations: tuple[float, ...]  # seconds, newest first, at most KEPT
    last_success_end: datetime | None
    read_at: datetime | None  # when Airflow was asked; None: only learned from runs seen


@dataclass(frozen=True)
class Success:
    """A successful run the watch read: what it teaches of its DAG."""

    dag_id: str
    ended: datetime
    duration_seconds: float | None


class DagHistories(Protocol):
    """The DAGs' learned history, as the watch uses it (bot/core/silent.py)."""

    def dag_histories(self, deployment: str, dag_ids: Iterable[str]) -> dict[str, DagHistory]: ...

    def learn_successes(self, deployment: str, successes: Sequence[Success]) -> None: ...

    def record_history(
        self, deployment: str, dag_id: str, successes: Sequence[Success]
    ) -> DagHistory: ...


class DagHistoryTable:
    """``Store``'s methods on the DAGs' history (``Store`` sets ``_db``)."""

    _db: Database

    def dag_histories(self, deployment: str, dag_ids: Iterable[str]) -> dict[str, DagHistory]:
        """The history of those of ``dag_ids`` the store has one for."""
        wanted = sorted(set(dag_ids))
        found: dict[str, DagHistory] = {}
        with self._db.connect() as conn:
            for start in range(0, len(wanted), 500):  # bound the IN list
                rows = conn.execute(
                    select(dag_history).where(
                        dag_history.c.deployment == deployment,
                        dag_history.c.dag_id.in_(wanted[start : start + 500]),
                    )
                ).mappings()
                for row in rows:
                    found[row["dag_id"]] = _history(row)
        return found

    def learn_successes(self, deployment: str, successes: Sequence[Success]) -> None:
        """Add runs the watch read to their DAGs' history (oldest first, as they ended)."""
        by_dag: dict[str, list[Success]] = {}
        for s in sorted(successes, key=lambda s: s.ended):
            by_dag.setdefault(s.dag_id, []).append(s)
        if not by_dag:
            return
        try:
            self._learn(deployment, by_dag)
        except StoreConflict:
            # Another process wrote a DAG's first row between our read and our write (a
            # watch whose lease lapsed mid-round, and its successor): learn again on top of it.
            self._learn(deployment, by_dag)

    def _learn(self, deployment: str, by_dag: dict[str, list[Success]]) -> None:
        known = self.dag_histories(deployment, by_dag)
        with self._db.begin() as conn:
            for dag_id, runs in by_dag.items():
                before = known.get(dag_id)
                durations = list(before.durations) if before else []
                last = before.last_success_end if before else None
                for run in runs:
                    if last is not None and run.ended <= last:
                        continue  # told already (a round repeated)
                    if run.duration_seconds is not None:
                        durations.insert(0, run.duration_seconds)
                    last = run.ended
                _write(conn, deployment, dag_id, durations[:KEPT], last, before, read=False)

    def record_history(
        self, deployment: str, dag_id: str, successes: Sequence[Success]
    ) -> DagHistory:
        """What Airflow said of the DAG's last successful runs (newest first): its history now."""
        durations = [s.duration_seconds for s in successes if s.duration_seconds is not None]
        last = max((s.ended for s in successes), default=None)
        for attempt in (1, 2):
            before = self.dag_histories(deployment, [dag_id]).get(dag_id)
            try:
                with self._db.begin() as conn:
                    _write(conn, deployment, dag_id, durations[:KEPT], last, before, read=True)
                break
            except StoreConflict:  # another process wrote its first row meanwhile: overwrite
                if attempt == 2:
                    raise
        return DagHistory(dag_id, tuple(durations[:KEPT]), last, clock.now())


def _write(
    conn: Any,
    deployment: str,
    dag_id: str,
    durations: list[float],
    last: datetime | None,
    before: DagHistory | None,
    *,
    read: bool,
) -> None:
    now = clock.now()
    values: dict[str, Any] = {"durations": durations, "last_success_end": last, "updated_at": now}
    if read:
        values["read_at"] = now
    if before is None:
        conn.execute(insert(dag_history).values(deployment=deployment, dag_id=dag_id, **values))
    else:
        conn.execute(
            update(dag_history)
            .where(dag_history.c.deployment == deployment, dag_history.c.dag_id == dag_id)
            .values(values)
        )


def _history(row: Any) -> DagHistory:
    last, read = row["last_success_end"], row["read_at"]
    return DagHistory(
        dag_id=row["dag_id"],
        durations=tuple(float(d) for d in row["durations"] or ()),
        last_success_end=clock.utc(last) if last is not None else None,
        read_at=clock.utc(read) if read is not None else None,
    )
