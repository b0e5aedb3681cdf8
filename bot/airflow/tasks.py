"""The client's operations on a run's task instances and their logs (``AirflowClient`` inherits
them), kept apart from client.py so that each module stays small."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.airflow.errors import AirflowBadRequest
from bot.airflow.logs import LogTail, v1_lines, v2_lines
from bot.airflow.models import TaskInstance
from bot.airflow.parse import task_instance_from_json
from bot.airflow.transport import Transport, seg

PAGE = 100  # both API versions cap a page at 100
MAX_LOG_CHUNKS = 50  # continuation calls for one log: a task still writing cannot keep us
_NEVER = datetime.max.replace(tzinfo=UTC)


class TaskOperations(Transport):
    def task_instances(
        self, dag_id: str, run_id: str, *, states: Sequence[str] | None = None
    ) -> list[TaskInstance]:
        """Every task instance of a run (paged to the end: a run can have hundreds), those that
        started first in the order they started, then the others by task id."""
        path = f"/dags/{seg(dag_id)}/dagRuns/{seg(run_id)}/taskInstances"
        params: dict[str, Any] = {"limit": PAGE}
        if states:
            params["state"] = list(states)
        found: dict[tuple[str, int], TaskInstance] = {}
        offset = 0
        while True:
            body = self.call("GET", path, params={**params, "offset": offset})
            page = body.get("task_instances") or []
            for raw in page:
                ti = task_instance_from_json(raw)
                # Airflow 2 pages without an order: an instance may come twice, or move.
                found[(ti.task_id, ti.map_index)] = ti
            offset += len(page)
            if not page or offset >= int(body.get("total_entries") or 0):
                break
        return sorted(found.values(), key=_started_order)

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, *, try_number: int, map_index: int = -1
    ) -> list[str]:
        """The log of one try of a task as lines, its last ``LogTail`` lines at most (then the
        first line says how many earlier ones were left out), read to its end through
        Airflow's continuation tokens."""
        if try_number < 1:
            raise AirflowBadRequest(
                f"task {task_id} has no log: it never ran (try number {try_number})",
                deployment=self.name,
            )
        path = (
            f"/dags/{seg(dag_id)}/dagRuns/{seg(run_id)}/taskInstances/{seg(task_id)}"
            f"/logs/{try_number}"
        )
        lines_of = v2_lines if self.api_version == "v2" else v1_lines
        tail = LogTail()
        token: str | None = None
        for _ in range(MAX_LOG_CHUNKS):
            params: dict[str, Any] = {"map_index": map_index}
            if token:
                params["token"] = token
            body = self.call("GET", path, params=params)
            added = tail.add(lines_of(body.get("content")))
            following = body.get("continuation_token")
            # Airflow 3 gives no token once the log is complete; Airflow 2 always gives one,
            # and the next chunk of a finished log is empty.
            if not isinstance(following, str) or not following or following == token:
                break
            if token is not None and not added:
                break
            token = following
        return tail.lines()


def _started_order(ti: TaskInstance) -> tuple[bool, datetime, str, int]:
    return (ti.start_date is None, ti.start_date or _NEVER, ti.task_id, ti.map_index)
