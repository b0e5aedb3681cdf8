"""Human-in-the-loop requests (Airflow 3.1+): the tasks waiting for a person, and answering
one (``AirflowClient`` inherits these operations).

An answer is never retried: Airflow takes the first and refuses any other with 409, which
becomes ``HitlAnswered`` carrying who answered and when, read back from Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.airflow.errors import AirflowConflict, AirflowError
from bot.airflow.parse import parse_time
from bot.airflow.transport import Transport, seg

PAGE = 100
HITL_SINCE = (3, 1)  # the first Airflow with human-in-the-loop operators


@dataclass(frozen=True)
class HitlUser:
    id: str
    name: str


@dataclass(frozen=True)
class HitlRequest:
    """One task waiting for a person (or one answered, when read back)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None = None
    options: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    multiple: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    assigned_users: tuple[HitlUser, ...] = ()
    response_received: bool = False
    chosen_options: tuple[str, ...] = ()
    responded_by: str | None = None  # the responder's name (or id) as Airflow recorded it
    responded_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        """The task instance, as one string: "run_id/task_id/map_index"."""
        return f"{self.run_id}/{self.task_id}/{self.map_index}"

    @property
    def takes_form(self) -> bool:
        """Several options, or parameters: more than one click can say."""
        return self.multiple or bool(self.params)


@dataclass(frozen=True)
class HitlPage:
    requests: tuple[HitlRequest, ...]
    total: int


class HitlAnswered(AirflowConflict):
    """Airflow refused an answer: the task was answered already (409)."""

    def __init__(
        self, message: str, *, by: str | None, at: datetime | None, deployment: str = ""
    ) -> None:
        super().__init__(message, status=409, deployment=deployment)
        self.by = by
        self.at = at


class HitlOperations(Transport):
    _hitl_version: str | None = None  # the server's version, once asked

    def hitl_refusal(self) -> str | None:
        """None where the server has human-in-the-loop (3.1+); else its version, to name in
        a refusal. Asked once per client: the version does not change under a running bot."""
        if self._hitl_version is None:
            self._hitl_version = str(self.call("GET", "/version").get("version") or "unknown")
        numbers = tuple(int(n) for n in re.findall(r"\d+", self._hitl_version)[:2])
        if self.api_version == "v2" and numbers >= HITL_SINCE:
            return None
        return self._hitl_version

    def hitl_waiting(self, *, limit: int = PAGE, offset: int = 0) -> HitlPage:
        """One page of the requests of every DAG still waiting for an answer, oldest first."""
        params = {"response_received": "false", "limit": max(1, min(limit, PAGE)),
                  "offset": max(0, offset), "order_by": "created_at"}  # fmt: skip
        body = self.call("GET", "/dags/~/dagRuns/~/hitlDetails", params=params)
        found = tuple(hitl_from_json(raw) for raw in body.get("hitl_details") or [])
        return HitlPage(found, int(body.get("total_entries", len(found))))

    def hitl_request(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> HitlRequest:
        return hitl_from_json(self.call("GET", _path(dag_id, run_id, task_id, map_index)))

    def hitl_respond(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int,
        chosen_options: Sequence[str],
        params_input: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer a waiting task. Never retried; ``HitlAnswered`` if it was answered first."""
        path = _path(dag_id, run_id, task_id, map_index)
        body = {"chosen_options": list(chosen_options), "params_input": dict(params_input or {})}
        try:
            self.call("PATCH", path, json=body, retry=False)
        except AirflowConflict as exc:
            by, at = None, None
            try:  # a read, to say who was first: Airflow's 409 does not
                first = self.hitl_request(dag_id, run_id, task_id, map_index)
                by, at = first.responded_by, first.responded_at
            except AirflowError:
                pass  # the refusal stands without the names
            raise HitlAnswered(exc.message, by=by, at=at, deployment=self.name) from None


def _path(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    return (
        f"/dags/{seg(dag_id)}/dagRuns/{seg(run_id)}/taskInstances/{seg(task_id)}/"
        f"{int(map_index)}/hitlDetails"
    )


def hitl_from_json(raw: Mapping[str, Any]) -> HitlRequest:
    ti = raw.get("task_instance") or {}
    by = raw.get("responded_by_user") or {}
    users = tuple(
        HitlUser(str(u.get("id") or ""), str(u.get("name") or u.get("id") or ""))
        for u in raw.get("assigned_users") or []
        if isinstance(u, Mapping)
    )
    return HitlRequest(
        dag_id=str(ti.get("dag_id") or raw.get("dag_id") or ""),
        run_id=str(ti.get("dag_run_id") or raw.get("dag_run_id") or ""),
        task_id=str(ti.get("task_id") or raw.get("task_id") or ""),
        map_index=int(ti.get("map_index", raw.get("map_index", -1))),
        subject=str(raw.get("subject") or ""),
        body=raw.get("body") if isinstance(raw.get("body"), str) else None,
        options=tuple(str(o) for o in raw.get("options") or []),
        defaults=tuple(str(o) for o in raw.get("defaults") or []),
        multiple=bool(raw.get("multiple")),
        params=dict(raw.get("params") or {}),
        assigned_users=users,
        response_received=bool(raw.get("response_received")),
        chosen_options=tuple(str(o) for o in raw.get("chosen_options") or []),
        responded_by=(
            str(by.get("name") or by.get("id")) if isinstance(by, Mapping) and by else None
        ),
        responded_at=parse_time(raw.get("responded_at")),
        created_at=parse_time(raw.get("created_at")),
    )
