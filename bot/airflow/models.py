"""Small typed values for what Airflow returns, the same whichever API version answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL_STATES = frozenset({"success", "failed"})


@dataclass(frozen=True)
class Dag:
    dag_id: str
    is_paused: bool
    description: str | None = None
    schedule: str | None = None  # human summary, e.g. "@daily" or "0 6 * * 1"; None = manual only
    next_run: datetime | None = None
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    has_import_errors: bool = False


@dataclass(frozen=True)
class DagPage:
    """One page of a DAG listing; ``total`` counts every DAG matching the filter."""

    dags: tuple[Dag, ...]
    total: int
    offset: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.offset - len(self.dags))


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str  # queued, running, success, failed (and whatever Airflow adds)
    logical_date: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    run_type: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def duration_seconds(self) -> float | None:
        if self.start_date is None or self.end_date is None:
            return None
        return (self.end_date - self.start_date).total_seconds()


@dataclass(frozen=True)
class RunPage:
    """One page of runs across DAGs; ``total`` counts every run matching the filter."""

    runs: tuple[DagRun, ...]
    total: int


@dataclass(frozen=True)
class TaskInstance:
    task_id: str
    state: str | None  # None: not scheduled yet
    try_number: int  # >= 1 once it ran; 0 if it never started
    map_index: int = -1  # -1: not a mapped task
    start_date: datetime | None = None
    end_date: datetime | None = None
