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
    max_active_runs: int | None = None  # in the DAG's details (``dag_details``) only


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
    queued_at: datetime | None = None
    # Airflow 3: the DAG's version the run ran with (the last of its ``dag_versions``), and
    # its bundle's version (a git commit, for a git bundle); None on Airflow 2.
    dag_version: int | None = None
    bundle_version: str | None = None

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
    # Filled where instances of many runs are listed at once (``waiting_tasks``).
    dag_id: str = ""
    run_id: str = ""
    queued_at: datetime | None = None  # Airflow's queued_when
    scheduled_at: datetime | None = None  # Airflow 3's scheduled_when (None on Airflow 2)
    pool: str | None = None


@dataclass(frozen=True)
class TaskPage:
    """One page of task instances across runs; ``total`` counts every one matching."""

    tasks: tuple[TaskInstance, ...]
    total: int


@dataclass(frozen=True)
class DagImportError:
    """A DAG file that does not import, as Airflow's ``importErrors`` lists it."""

    id: int
    filename: str
    stack_trace: str
    timestamp: datetime | None = None
    bundle: str | None = None  # Airflow 3's bundle_name


@dataclass(frozen=True)
class ImportErrorPage:
    errors: tuple[DagImportError, ...]
    total: int
