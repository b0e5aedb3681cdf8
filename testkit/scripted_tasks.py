"""The task instances of a scripted run and their logs, as Airflow 3's ``/api/v2`` answers them
(``testkit.flow.ScriptedAirflow`` routes a run's ``taskInstances`` paths here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testkit.fake_http import Request, Response

TIME = "2026-12-01T17:36:16.111623Z"


@dataclass
class ScriptedTask:
    task_id: str
    state: str | None = "success"
    try_number: int = 1  # 0: it never ran
    map_index: int = -1
    start_date: str | None = None
    end_date: str | None = None
    log: list[str] = field(default_factory=list)  # the lines its latest try printed
    queued_at: str | None = None  # Airflow's queued_when
    scheduled_at: str | None = None  # Airflow 3's scheduled_when
    pool: str = "default_pool"
    # Why it does not run, [{"name": ..., "reason": ...}]: what .../dependencies answers while
    # it is scheduled or has no state (Airflow computes none for other states: a queued task
    # waits for the executor, which gives no reason).
    dependencies: list[dict[str, str]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "state": self.state,
            "try_number": self.try_number,
            "map_index": self.map_index,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "queued_when": self.queued_at,
            "scheduled_when": self.scheduled_at,
            "pool": self.pool,
        }

    def records(self) -> list[dict[str, Any]]:
        """The log as Airflow 3 gives it: the source details group, then a record a line."""
        return [
            {"event": "::group::Log message source details"},
            {"event": f"/opt/airflow/logs/task_id={self.task_id}/attempt={self.try_number}.log"},
            {"event": "::endgroup::"},
            *({"timestamp": TIME, "event": line, "level": "info", "logger": "task.stdout"}
              for line in self.log),
        ]  # fmt: skip


def task_answer(tasks: list[ScriptedTask], rest: list[str], req: Request) -> Response:
    """``taskInstances`` (``rest`` empty), ``taskInstances/{task}/logs/{try}`` or
    ``taskInstances/{task}[/{map_index}]/dependencies``."""
    if not rest:
        states = req.query.get("state")
        chosen = [t.json() for t in tasks if not states or t.state in states]
        offset = int((req.query.get("offset") or ["0"])[0])
        limit = int((req.query.get("limit") or ["50"])[0])
        page = chosen[offset : offset + limit]
        return Response(200, {"task_instances": page, "total_entries": len(chosen)})
    if len(rest) == 3 and rest[1] == "logs":
        map_index = int((req.query.get("map_index") or ["-1"])[0])
        for task in tasks:
            if (task.task_id, str(task.try_number), task.map_index) == (rest[0], rest[2],
                                                                        map_index):  # fmt: skip
                return Response(200, {"content": task.records(), "continuation_token": None})
        return Response(404, {"detail": "TaskInstance not found"})
    if rest[-1:] == ["dependencies"] and len(rest) in (2, 3):
        map_index = int(rest[1]) if len(rest) == 3 else -1
        for task in tasks:
            if (task.task_id, task.map_index) == (rest[0], map_index):
                deps = task.dependencies if task.state in (None, "scheduled") else []
                return Response(200, {"dependencies": deps})
        return Response(404, {"detail": "The Task Instance was not found"})
    return Response(404, {"detail": "Not Found"})
