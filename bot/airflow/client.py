"""The one Airflow REST client every command uses, for Airflow 2 (/api/v1) and 3 (/api/v2).

One instance per configured deployment: the operations the bot needs, each turning Airflow's
answer into the typed values of ``bot.airflow.models``. How a call reaches Airflow (session,
version, credentials, retries, errors) is ``bot.airflow.transport``'s; the operations on task
instances and logs are ``bot.airflow.tasks``'s.
"""

from __future__ import annotations

import json as json_lib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from bot.airflow.errors import AirflowBadRequest, AirflowError, AirflowUnavailable
from bot.airflow.hitl import HitlOperations
from bot.airflow.models import Dag, DagPage, DagRun, RunPage
from bot.airflow.parse import dag_from_json, run_from_json
from bot.airflow.tasks import TaskOperations
from bot.airflow.transport import seg as _seg
from bot.airflow.watch_reads import WatchReads

MAX_PAGE = 100  # both API versions cap a page at 100
_EPOCH = datetime.min.replace(tzinfo=UTC)


class AirflowClient(TaskOperations, HitlOperations, WatchReads):
    """The operations; the constructor's settings are ``Transport``'s."""

    _can_wait: bool | None = None

    # -- operations -------------------------------------------------------------------------

    def version(self) -> str:
        """The Airflow version the server reports."""
        body = self.call("GET", "/version")
        return str(body.get("version", "unknown"))

    def list_dags(self, *, pattern: str | None = None, limit: int = 20, offset: int = 0) -> DagPage:
        """One page of DAGs whose id contains ``pattern``; only that page is fetched."""
        limit = max(1, min(limit, MAX_PAGE))
        params: dict[str, Any] = {"limit": limit, "offset": max(0, offset), "order_by": "dag_id"}
        if pattern:
            params["dag_id_pattern"] = pattern
        body = self.call("GET", "/dags", params=params)
        dags = tuple(dag_from_json(d) for d in body.get("dags", []))
        total = int(body.get("total_entries", len(dags)))
        return DagPage(dags=dags, total=total, offset=offset, limit=limit)

    def get_dag(self, dag_id: str) -> Dag:
        return dag_from_json(self.call("GET", f"/dags/{_seg(dag_id)}"))

    def set_paused(self, dag_id: str, paused: bool) -> Dag:
        body = self.call(
            "PATCH",
            f"/dags/{_seg(dag_id)}",
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
        )
        return dag_from_json(body)

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        note: str | None = None,
    ) -> DagRun:
        """Create a DAG run. A naive ``logical_date`` is refused before any call."""
        if logical_date is not None and logical_date.utcoffset() is None:
            raise AirflowBadRequest(
                "the logical date needs a time zone, e.g. 2022-11-16T11:34:00Z",
                deployment=self.name,
            )
        body: dict[str, Any] = {"conf": dict(conf or {})}
        if logical_date is not None:
            body["logical_date"] = logical_date.isoformat()
        elif self.api_version == "v2":
            body["logical_date"] = None  # v2 requires the key; null means "no logical date"
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return run_from_json(self.call("POST", f"/dags/{_seg(dag_id)}/dagRuns", json=body))

    def list_runs(self, dag_id: str, *, limit: int = 5) -> list[DagRun]:
        """The most recent runs of a DAG, newest first."""
        order = "-execution_date" if self.api_version == "v1" else "-run_after"
        params = {"limit": max(1, min(limit, MAX_PAGE)), "order_by": order}
        body = self.call("GET", f"/dags/{_seg(dag_id)}/dagRuns", params=params)
        runs = [run_from_json(r) for r in body.get("dag_runs", [])]
        if not runs and self.api_version == "v1":
            self.get_dag(dag_id)  # v1 answers 200 with no runs for an unknown DAG: ask, so it 404s
        return runs

    def latest_runs(self, dag_ids: Sequence[str]) -> dict[str, DagRun]:
        """The newest run of each DAG among the most recent runs of all of them, in one call."""
        if not dag_ids:
            return {}
        order = "-execution_date" if self.api_version == "v1" else "-run_after"
        body = self.call(
            "POST",
            "/dags/~/dagRuns/list",
            json={"dag_ids": list(dag_ids), "page_limit": MAX_PAGE, "order_by": order},
            retry=True,  # a read, despite the verb
        )
        latest: dict[str, DagRun] = {}
        for raw in body.get("dag_runs", []):
            run = run_from_json(raw)
            latest.setdefault(run.dag_id, run)
        return latest

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        return run_from_json(self.call("GET", f"/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}"))

    def mark_run(self, dag_id: str, run_id: str, state: str = "success") -> DagRun:
        """Set a run's state (``success``, ``failed`` or ``queued``). Never retried: an action."""
        # Airflow 3 takes an update mask; Airflow 2 refuses any query parameter here (400).
        params = {"update_mask": "state"} if self.api_version == "v2" else None
        path = f"/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}"
        body = self.call("PATCH", path, params=params, json={"state": state}, retry=False)
        return run_from_json(body)

    def ended_runs(
        self,
        *,
        since: datetime | None,
        states: Sequence[str] = ("failed", "success"),
        limit: int = 100,
        offset: int = 0,
    ) -> RunPage:
        """One page of the runs of every DAG that ended at or after ``since`` (None: whenever)
        in one of ``states``, the earliest ended first, in one call."""
        if since is not None and since.utcoffset() is None:
            raise AirflowBadRequest("`since` needs a time zone", deployment=self.name)
        limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
        after = {"end_date_gte": since.isoformat()} if since is not None else {}
        # Ordered by end_date: Airflow 3 then by its row id, Airflow 2 by nothing more (it
        # takes one sort key). Both were checked on 2.11 and 3.3, bounds inclusive.
        if self.api_version == "v2":
            params = {"state": list(states), "order_by": "end_date", "limit": limit,
                      "offset": offset, **after}  # fmt: skip
            body = self.call("GET", "/dags/~/dagRuns", params=params)
        else:
            form = {"states": list(states), "order_by": "end_date", "page_limit": limit,
                    "page_offset": offset, **after}  # fmt: skip
            body = self.call("POST", "/dags/~/dagRuns/list", json=form, retry=True)  # a read
        runs = [run_from_json(r) for r in body.get("dag_runs", [])]
        # Runs that ended at the same instant, in an order that does not change between calls.
        runs.sort(key=lambda r: (r.end_date or _EPOCH, r.dag_id, r.run_id))
        return RunPage(runs=tuple(runs), total=int(body.get("total_entries", len(runs))))

    def can_wait(self) -> bool:
        """Whether the server streams a run's state changes (Airflow 3.1+: ``.../wait``)."""
        if self._can_wait is None:
            try:
                numbers = re.findall(r"\d+", self.version())[:2] if self.api_version == "v2" else []
                self._can_wait = tuple(int(n) for n in numbers) >= (3, 1)
            except AirflowError:
                return False  # ask again next time
        return self._can_wait

    def wait_run(
        self, dag_id: str, run_id: str, *, seconds: float, interval: float = 1.0
    ) -> Iterator[str]:
        """The run's state as Airflow streams it (a line per ``interval``), for up to
        ``seconds`` or until it ends. Experimental in Airflow: callers fall back on get_run."""
        url = f"{self.base_url}/api/v2/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/wait"
        auth = self.auth()
        headers = {"Accept": "application/x-ndjson"}
        auth.apply(headers)
        deadline = time.monotonic() + seconds
        try:
            resp = self.session.get(
                url,
                params={"interval": interval},
                headers=headers,
                stream=True,
                timeout=(self.timeout[0], interval + 10),
            )
        except requests.RequestException as exc:
            raise AirflowUnavailable(f"{type(exc).__name__} waiting on the run",
                                     deployment=self.name) from None  # fmt: skip
        with resp:
            if resp.status_code == 401:
                auth.renew()
            if resp.status_code >= 400:
                raise self.error(resp)
            try:
                for line in resp.iter_lines():
                    if line:
                        state = json_lib.loads(line).get("state")
                        if isinstance(state, str):
                            yield state
                    if time.monotonic() >= deadline:
                        return
            except (requests.RequestException, ValueError) as exc:
                raise AirflowUnavailable(f"the run's state stream broke: {type(exc).__name__}",
                                         deployment=self.name) from None  # fmt: skip

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        """The ids of a run's failed (or upstream-failed) task instances, in task-id order."""
        body = self.call(
            "GET",
            f"/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/taskInstances",
            params={"state": ["failed", "upstream_failed"], "limit": MAX_PAGE},
        )
        tasks = {str(ti.get("task_id")) for ti in body.get("task_instances", [])}
        return sorted(tasks)

    def clear_failed(self, dag_id: str, run_id: str) -> list[str]:
        """Clear a run's failed task instances so the scheduler runs them again; returns their
        task ids. Never retried: a clear is an action."""
        body = self.call(
            "POST",
            f"/dags/{_seg(dag_id)}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "only_failed": True,
                "dry_run": False,
                "reset_dag_runs": True,
            },
            retry=False,
        )
        return sorted({str(ti.get("task_id")) for ti in body.get("task_instances", [])})

    # -- links into the Airflow UI ----------------------------------------------------------

    def dag_url(self, dag_id: str) -> str:
        if self.api_version == "v1":
            return f"{self.base_url}/dags/{_seg(dag_id)}/grid"
        return f"{self.base_url}/dags/{_seg(dag_id)}"

    def run_url(self, dag_id: str, run_id: str) -> str:
        if self.api_version == "v1":
            return f"{self.base_url}/dags/{_seg(dag_id)}/grid?{urlencode({'dag_run_id': run_id})}"
        return f"{self.base_url}/dags/{_seg(dag_id)}/runs/{_seg(run_id)}"

    def task_url(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """The task instance's page, which opens on its log."""
        if self.api_version == "v1":
            query = {"dag_run_id": run_id, "task_id": task_id, "tab": "logs"}
            if map_index >= 0:
                query["map_index"] = str(map_index)
            return f"{self.base_url}/dags/{_seg(dag_id)}/grid?{urlencode(query)}"
        url = f"{self.run_url(dag_id, run_id)}/tasks/{_seg(task_id)}"
        return f"{url}/mapped/{map_index}" if map_index >= 0 else url

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        # Not self.base_url: a repr must never go and ask a platform where Airflow is.
        return f"AirflowClient(name={self.name!r}, base_url={self._base_url!r})"
