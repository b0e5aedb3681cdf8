"""The client's reads for the watcher's silent-trouble events (``AirflowClient`` inherits them):
runs under way across DAGs, task instances waiting to run and why, files that do not import,
a DAG's last successes, the recent successes of many DAGs, a DAG's details. Each is one call,
the same for /api/v1 and /api/v2.

Where the versions differ (checked on 2.11 and 3.3): Airflow 2 gives no ``queued_at`` on a
run and no ``scheduled_when`` on a task instance (None here); it names an import error's file
by its full path, Airflow 3 relative to its bundle. Both compute a task's dependencies only
while it has no state or is scheduled: a queued one gives none (it waits for the executor).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.airflow.errors import AirflowBadRequest
from bot.airflow.models import Dag, DagRun, ImportErrorPage, RunPage, TaskPage
from bot.airflow.parse import (
    dag_from_json,
    dependency_reasons,
    import_error_from_json,
    run_from_json,
    task_instance_from_json,
)
from bot.airflow.transport import Transport, seg

PAGE = 100  # both API versions cap a page at 100
ACTIVE_STATES = ("running", "queued")
WAITING_STATES = ("scheduled", "queued")


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, PAGE)), max(0, offset)


class WatchReads(Transport):
    def active_runs(self, *, limit: int = 100, offset: int = 0) -> RunPage:
        """One page of the runs of every DAG that are running or queued, the oldest first: in
        the order Airflow created them (its row id, the one sort key both versions take that
        no run lacks; neither sorts by queued_at)."""
        limit, offset = _page(limit, offset)
        if self.api_version == "v2":
            params = {"state": list(ACTIVE_STATES), "order_by": "id", "limit": limit,
                      "offset": offset}  # fmt: skip
            body = self.call("GET", "/dags/~/dagRuns", params=params)
        else:
            form = {"states": list(ACTIVE_STATES), "order_by": "id", "page_limit": limit,
                    "page_offset": offset}  # fmt: skip
            body = self.call("POST", "/dags/~/dagRuns/list", json=form, retry=True)  # a read
        runs = tuple(run_from_json(r) for r in body.get("dag_runs") or [])
        return RunPage(runs=runs, total=_total(body, len(runs)))

    def waiting_tasks(self, *, limit: int = 100, offset: int = 0) -> TaskPage:
        """One page of the task instances of every run that are scheduled or queued."""
        limit, offset = _page(limit, offset)
        if self.api_version == "v2":
            params = {"state": list(WAITING_STATES), "limit": limit, "offset": offset}
            body = self.call("GET", "/dags/~/dagRuns/~/taskInstances", params=params)
        else:
            form = {"state": list(WAITING_STATES), "page_limit": limit, "page_offset": offset}
            body = self.call(
                "POST", "/dags/~/dagRuns/~/taskInstances/list", json=form, retry=True
            )  # a read
        tasks = tuple(task_instance_from_json(t) for t in body.get("task_instances") or [])
        return TaskPage(tasks=tasks, total=_total(body, len(tasks)))

    def task_dependencies(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1
    ) -> list[str]:
        """Why a task instance is not running, in Airflow's words ("name: reason" each);
        empty when Airflow gives no reason."""
        path = f"/dags/{seg(dag_id)}/dagRuns/{seg(run_id)}/taskInstances/{seg(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        body = self.call("GET", f"{path}/dependencies")
        return dependency_reasons(body.get("dependencies"))

    def import_errors(self, *, limit: int = 100, offset: int = 0) -> ImportErrorPage:
        """One page of the DAG files that do not import, by file name."""
        limit, offset = _page(limit, offset)
        params: dict[str, Any] = {"limit": limit, "offset": offset, "order_by": "filename"}
        body = self.call("GET", "/importErrors", params=params)
        errors = tuple(import_error_from_json(e) for e in body.get("import_errors") or [])
        return ImportErrorPage(errors=errors, total=_total(body, len(errors)))

    def successful_runs(self, dag_id: str, *, limit: int = 10) -> list[DagRun]:
        """The DAG's last successful runs, the latest ended first."""
        params = {"state": "success", "order_by": "-end_date", "limit": _page(limit, 0)[0]}
        body = self.call("GET", f"/dags/{seg(dag_id)}/dagRuns", params=params)
        return [run_from_json(r) for r in body.get("dag_runs") or []]

    def recent_successes(
        self, dag_ids: Sequence[str], *, since: datetime, limit: int = 100
    ) -> RunPage:
        """One page of the successful runs of ``dag_ids`` that ended at or after ``since``, the
        latest ended first, in one call (the same batch form on both versions)."""
        if since.utcoffset() is None:
            raise AirflowBadRequest("`since` needs a time zone", deployment=self.name)
        form = {"dag_ids": list(dag_ids), "states": ["success"], "end_date_gte": since.isoformat(),
                "order_by": "-end_date", "page_limit": _page(limit, 0)[0]}  # fmt: skip
        body = self.call("POST", "/dags/~/dagRuns/list", json=form, retry=True)  # a read
        runs = tuple(run_from_json(r) for r in body.get("dag_runs") or [])
        return RunPage(runs=runs, total=_total(body, len(runs)))

    def dag_details(self, dag_id: str) -> Dag:
        """The DAG with what only its details hold (``max_active_runs``)."""
        return dag_from_json(self.call("GET", f"/dags/{seg(dag_id)}/details"))


def _total(body: dict[str, Any], default: int) -> int:
    total = body.get("total_entries")
    return total if isinstance(total, int) and not isinstance(total, bool) else default
