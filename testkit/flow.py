"""In-process flow tests: the real bot, the local Slack stand-in and a scripted Airflow.

``FlowBot`` is the bot the Procfile serves (``create_bot`` behind the WSGI app, on 127.0.0.1),
answering correctly signed requests like Slack's; Slack is ``bot.tools.localslack.SlackStandin`` and
Airflow is ``ScriptedAirflow``, a real HTTP server that keeps DAGs and runs in memory and speaks
enough of Airflow 3's ``/api/v2`` for every verb. Nothing here starts a real Airflow, so a flow
test runs in well under a second; what only a real Airflow can show stays in the e2e tests.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlencode

import requests
from sqlalchemy import update

from bot.app import create_bot, load_all, migrate_store
from bot.store import AuditEntry
from bot.store.schema import outbox
from bot.tools.localbot import Answer, LocalBot
from bot.tools.localslack import SlackStandin
from bot.tools.signing import (
    block_actions_payload,
    sign,
    slash_command_fields,
    view_submission_payload,
)
from testkit.conversation import visible_text
from testkit.fake_http import FakeHTTPServer, Request, Response
from testkit.scripted_tasks import ScriptedTask, task_answer

API = "/api/v2"
FAILED_TASK_STATES = ("failed", "upstream_failed")  # what clearing only the failed clears
ENDED_STATES = ("failed", "success")  # what the runs of every DAG are, unless asked
TOKEN = "scripted-airflow-token-0123456789"


@dataclass
class ScriptedDag:
    dag_id: str
    is_paused: bool = False
    description: str | None = None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_tasks: list[str] = field(default_factory=list)
    tasks: dict[str, list[ScriptedTask]] = field(default_factory=dict)  # by run id, with logs
    # For runs without tasks of their own: every run's failed tasks, and their logs' lines.
    logs: dict[str, list[str]] = field(default_factory=dict)
    max_active_runs: int = 16  # in its details only, as Airflow's

    def json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "is_paused": self.is_paused,
            "description": self.description,
            "timetable_summary": None,
            "tags": [],
            "owners": ["airflow"],
            "has_import_errors": False,
        }

    def details(self) -> dict[str, Any]:
        return {**self.json(), "max_active_runs": self.max_active_runs, "params": {}}


class ScriptedAirflow:
    """Airflow 3 as far as the bot asks it: DAGs, runs, pause, trigger, failed tasks, clear,
    task instances and their logs (``add_run``), a run's state; for the watcher, runs under
    way since a given time (``add_running_run``, ``add_queued_run``), task instances waiting
    across runs and why (``ScriptedTask`` fields), files that do not import
    (``add_import_error``), a DAG's details (``ScriptedDag.max_active_runs``).

    Every request is kept (``.http.requests``) so a test can say what reached Airflow."""

    def __init__(self, version: str = "3.0.6") -> None:
        self.version = version
        self.dags: dict[str, ScriptedDag] = {}
        # Human-in-the-loop requests (3.1+), by "dag_id/run_id/task_id/map_index".
        self.hitl: dict[str, dict[str, Any]] = {}
        # What /importErrors lists, by file name (``add_import_error``, ``fix_import_error``).
        self.import_errors: dict[str, dict[str, Any]] = {}
        self.delay = 0.0  # seconds before each answer, as a slow Airflow takes
        self.down_until = 0.0  # time.monotonic() until which every call answers 503
        self.http = FakeHTTPServer()
        self.http.fallback = self._answer
        self._lock = threading.Lock()

    def __enter__(self) -> ScriptedAirflow:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.http.url

    def add_dag(self, dag_id: str, **fields: Any) -> ScriptedDag:
        dag = ScriptedDag(dag_id, **fields)
        self.dags[dag_id] = dag
        return dag

    def add_run(self, dag_id: str, state: str = "queued", **fields: Any) -> dict[str, Any]:
        """A run of ``dag_id`` as if the scheduler or someone else had started it."""
        with self._lock:
            return self._new_run(self.dags[dag_id], {"state": state, **fields})

    def add_past_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        state: str = "failed",
        tasks: Sequence[ScriptedTask] = (),
        run_type: str = "scheduled",
    ) -> dict[str, Any]:
        """A run that already happened (newer than those before it), with its tasks' logs."""
        now = datetime.now(UTC).isoformat()
        run: dict[str, Any] = {
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "state": state,
            "logical_date": None,
            "queued_at": now,
            "run_after": now,
            "start_date": now,
            "end_date": now,
            "run_type": run_type,
            "conf": {},
            "note": None,
        }
        dag = self.dags[dag_id]
        dag.runs[run_id] = run
        dag.tasks[run_id] = list(tasks)
        return run

    def add_running_run(
        self,
        dag_id: str,
        since: datetime,
        *,
        run_id: str | None = None,
        tasks: Sequence[ScriptedTask] = (),
    ) -> dict[str, Any]:
        """A run of ``dag_id`` running since ``since`` (queued a moment before), with these
        task instances (e.g. one running, one scheduled with its ``dependencies``)."""
        started = since.isoformat()
        queued = (since - timedelta(seconds=1)).isoformat()
        return self._run_since(dag_id, run_id, tasks, state="running", queued_at=queued,
                               start_date=started)  # fmt: skip

    def add_queued_run(
        self,
        dag_id: str,
        queued_at: datetime,
        *,
        run_id: str | None = None,
        tasks: Sequence[ScriptedTask] = (),
    ) -> dict[str, Any]:
        """A run of ``dag_id`` queued since ``queued_at`` that has not started."""
        return self._run_since(dag_id, run_id, tasks, state="queued",
                               queued_at=queued_at.isoformat(), start_date=None)  # fmt: skip

    def _run_since(
        self,
        dag_id: str,
        run_id: str | None,
        tasks: Sequence[ScriptedTask],
        **fields: Any,
    ) -> dict[str, Any]:
        with self._lock:
            dag = self.dags[dag_id]
            run = self._new_run(dag, {"dag_run_id": run_id or f"manual__{fields['queued_at']}",
                                      "state": fields["state"]})  # fmt: skip
            run.update(fields, run_after=fields["queued_at"])
            dag.tasks[run["dag_run_id"]] = list(tasks)
            return run

    def add_import_error(self, filename: str, stack_trace: str) -> dict[str, Any]:
        """``filename`` does not import (as the DAG processor found it, now); returns the
        entry /importErrors lists, which the test may edit."""
        with self._lock:
            ids = [e["import_error_id"] for e in self.import_errors.values()]
            entry = {
                "import_error_id": max(ids, default=0) + 1,
                "timestamp": datetime.now(UTC).isoformat(),
                "filename": filename,
                "bundle_name": "dags-folder",
                "stack_trace": stack_trace,
            }
            self.import_errors[filename] = entry
            return entry

    def fix_import_error(self, filename: str) -> None:
        """``filename`` imports again: /importErrors no longer lists it."""
        with self._lock:
            self.import_errors.pop(filename, None)

    def end_runs(self, state: str = "success") -> int:
        """End every run still queued or running, as the scheduler would; returns how many."""
        ended = 0
        with self._lock:
            for dag in self.dags.values():
                for run in dag.runs.values():
                    if run["state"] in ("queued", "running"):
                        now = datetime.now(UTC).isoformat()
                        run.update(state=state, start_date=now, end_date=now)
                        ended += 1
        return ended

    def add_hitl(
        self, dag_id: str, task_id: str = "approve", *, run_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A task of a new run (or ``run_id``) waiting for a person, as an ApprovalOperator's."""
        with self._lock:
            run = self.dags[dag_id].runs.get(run_id or "") or self._new_run(
                self.dags[dag_id], {"state": "running", "dag_run_id": run_id}
            )
            detail = {
                "task_instance": {"dag_id": dag_id, "dag_run_id": run["dag_run_id"],
                                  "task_id": task_id, "map_index": -1,
                                  "state": "awaiting_input"},
                "options": ["Approve", "Reject"], "subject": "Ship it?", "body": None,
                "defaults": None, "multiple": False, "params": {}, "assigned_users": [],
                "response_received": False, "chosen_options": None, "params_input": {},
                "responded_by_user": None, "responded_at": None,
                "created_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(), **fields,
            }  # fmt: skip
            self.hitl[f"{dag_id}/{run['dag_run_id']}/{task_id}/-1"] = detail
            return detail

    def answer_hitl(self, detail: Mapping[str, Any], options: Sequence[str], by: str) -> None:
        """Answered outside the bot (Airflow's UI), by the Airflow user ``by``."""
        with self._lock:
            self._answered(dict(detail["task_instance"]), list(options), by)

    def hitl_patches(self) -> list[Request]:
        return [r for r in self.http.requests if r.method == "PATCH" and "hitlDetails" in r.path]

    def writes(self) -> list[Request]:
        """Requests that would change something in Airflow (reads sent as POST excluded)."""
        return [
            r
            for r in self.http.requests
            if r.method in ("POST", "PATCH", "DELETE", "PUT") and not r.path.endswith("/list")
        ]

    # -- the API -------------------------------------------------------------------------

    def _answer(self, req: Request) -> Response:
        if not req.path.startswith(API):
            return Response(404, {"detail": "Not Found"})
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(401, {"detail": "Not authenticated"})
        parts = [unquote(p) for p in req.path[len(API) :].strip("/").split("/")]
        if time.monotonic() < self.down_until:  # as its load balancer says when it is down
            return Response(503, {"detail": "Service Unavailable"})
        time.sleep(self.delay)
        with self._lock:
            return self._route(req, parts)

    def _route(self, req: Request, parts: list[str]) -> Response:
        if parts == ["version"]:
            return Response(200, {"version": self.version, "git_version": None})
        if parts == ["dags"] and req.method == "GET":
            return self._list(req)
        if parts == ["dags", "~", "dagRuns"] and req.method == "GET":
            return self._across(req)
        if parts == ["dags", "~", "dagRuns", "~", "taskInstances"] and req.method == "GET":
            return self._waiting(req)
        if parts == ["importErrors"] and req.method == "GET":
            return self._import_errors(req)
        if parts == ["dags", "~", "dagRuns", "list"]:
            return self._batch(req.json())
        if parts[-1:] == ["hitlDetails"]:
            return self._hitl(req, parts)
        if len(parts) < 2 or parts[0] != "dags":
            return Response(404, {"detail": "Not Found"})
        dag = self.dags.get(parts[1])
        if dag is None:
            return Response(404, {"detail": f"The Dag with ID: `{parts[1]}` was not found"})
        rest = parts[2:]
        if not rest:
            if req.method == "PATCH":
                dag.is_paused = bool(req.json().get("is_paused"))
            return Response(200, dag.json())
        if rest == ["dagRuns"] and req.method == "POST":
            return self._trigger(dag, req.json())
        if rest == ["details"]:
            return Response(200, dag.details())
        if rest == ["dagRuns"]:
            return _runs_page(list(dag.runs.values()), req, default_order="-run_after")
        if rest == ["clearTaskInstances"]:
            run_id = str(req.json().get("dag_run_id"))
            failed = [t for t in dag.tasks.get(run_id, []) if t.state in FAILED_TASK_STATES]
            names = [t.task_id for t in failed] or dag.failed_tasks
            cleared = [{"task_id": name, "dag_id": dag.dag_id} for name in names]
            dag.failed_tasks = []
            for task in failed:
                task.state = None  # to run again
            again = dag.runs.get(run_id)
            if cleared and again is not None:  # its cleared tasks wait to run again
                again.update(state="queued", end_date=None)
            return Response(200, {"task_instances": cleared, "total_entries": len(cleared)})
        run = dag.runs.get(rest[1]) if len(rest) >= 2 and rest[0] == "dagRuns" else None
        if run is None:
            return Response(404, {"detail": "The DagRun was not found"})
        if rest[2:] == [] and req.method == "PATCH":
            run.update(state=req.json()["state"])
            return Response(200, run)
        if rest[2:] == []:
            return Response(200, run)
        if rest[2:3] == ["taskInstances"] and run["dag_run_id"] in dag.tasks:
            return task_answer(dag.tasks[run["dag_run_id"]], rest[3:], req)
        if rest[2:] == ["taskInstances"]:
            tis = [
                {"task_id": t, "state": "failed", "try_number": 1, "map_index": -1}
                for t in dag.failed_tasks
            ]
            return Response(200, {"task_instances": tis, "total_entries": len(tis)})
        if rest[2:3] == ["taskInstances"] and rest[4:5] == ["logs"]:
            records = [{"event": line, "level": "info"} for line in dag.logs.get(rest[3], [])]
            return Response(200, {"content": records, "continuation_token": None})
        return Response(404, {"detail": "Not Found"})

    def _batch(self, form: dict[str, Any]) -> Response:
        return _batch_page([r for d in self.dags.values() for r in d.runs.values()], form)

    def _across(self, req: Request) -> Response:
        """Runs of every DAG, as Airflow 3 lists them: in ``state`` (the watcher asks for
        those that ended, by ``end_date`` from ``end_date_gte``, and for those under way)."""
        runs = [r for d in self.dags.values() for r in d.runs.values()]
        return _runs_page(runs, req, default_order="id")

    def _waiting(self, req: Request) -> Response:
        """Task instances of every run (those the runs were given), in ``state``."""
        states = req.query.get("state")
        found = [
            {**t.json(), "dag_id": dag.dag_id, "dag_run_id": run_id}
            for dag in self.dags.values()
            for run_id, tasks in dag.tasks.items()
            for t in tasks
            if not states or t.state in states
        ]
        page = found[_number(req, "offset", 0) :][: _number(req, "limit", 50)]
        return Response(200, {"task_instances": page, "total_entries": len(found)})

    def _import_errors(self, req: Request) -> Response:
        errors = sorted(self.import_errors.values(), key=lambda e: str(e["filename"]))
        page = errors[_number(req, "offset", 0) :][: _number(req, "limit", 50)]
        return Response(200, {"import_errors": page, "total_entries": len(errors)})

    def _hitl(self, req: Request, parts: list[str]) -> Response:
        """hitlDetails: the waiting list (3.1+), one request, an answer (409 once answered)."""
        if tuple(int(n) for n in self.version.split(".")[:2]) < (3, 1):
            return Response(404, {"detail": "Not Found"})
        if parts[:4] == ["dags", "~", "dagRuns", "~"]:
            waiting = [d for d in self.hitl.values() if not d["response_received"]]
            limit = int((req.query.get("limit") or ["100"])[0])
            offset = int((req.query.get("offset") or ["0"])[0])
            page = waiting[offset : offset + limit]
            return Response(200, {"hitl_details": page, "total_entries": len(waiting)})
        dag_id, run_id, task_id, map_index = parts[1], parts[3], parts[5], parts[6]
        detail = self.hitl.get(f"{dag_id}/{run_id}/{task_id}/{map_index}")
        if detail is None:
            return Response(404, {"detail": "No Human-in-the-loop detail found"})
        if req.method != "PATCH":
            return Response(200, detail)
        if detail["response_received"]:
            already = (
                "Human-in-the-loop detail has already been updated; not allowed to write again."
            )
            return Response(409, {"detail": already})
        self._answered(detail["task_instance"], req.json().get("chosen_options") or [], "bot")
        answer = ("chosen_options", "params_input", "responded_by_user", "responded_at")
        return Response(200, {k: detail[k] for k in answer})

    def _answered(self, ti: Mapping[str, Any], options: list[str], by: str) -> None:
        key = f"{ti['dag_id']}/{ti['dag_run_id']}/{ti['task_id']}/{ti.get('map_index', -1)}"
        self.hitl[key].update(
            response_received=True, chosen_options=options,
            responded_by_user={"id": by, "name": by}, responded_at=datetime.now(UTC).isoformat(),
        )  # fmt: skip

    def _list(self, req: Request) -> Response:
        pattern = (req.query.get("dag_id_pattern") or [""])[0]
        limit = int((req.query.get("limit") or ["100"])[0])
        offset = int((req.query.get("offset") or ["0"])[0])
        found = sorted((d for d in self.dags.values() if pattern in d.dag_id), key=_dag_id)
        page = [d.json() for d in found[offset : offset + limit]]
        return Response(200, {"dags": page, "total_entries": len(found)})

    def _trigger(self, dag: ScriptedDag, body: dict[str, Any]) -> Response:
        run_id = body.get("dag_run_id")
        if run_id in dag.runs:
            return Response(409, {"detail": f"DAG Run with id `{run_id}` already exists"})
        fields = {k: body.get(k) for k in ("dag_run_id", "logical_date", "conf", "note")}
        return Response(200, self._new_run(dag, fields))

    def _new_run(self, dag: ScriptedDag, fields: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        run_id = fields.get("dag_run_id") or f"manual__{now}"
        state = fields.get("state") or "queued"
        run = {
            "dag_id": dag.dag_id,
            "dag_run_id": run_id,
            "state": state,
            "logical_date": fields.get("logical_date"),
            "queued_at": now,
            "run_after": now,
            "start_date": None if state == "queued" else now,
            "end_date": None if state in ("queued", "running") else fields.get("end_date") or now,
            "run_type": fields.get("run_type") or "manual",
            "conf": fields.get("conf") or {},
            "note": fields.get("note"),
        }
        dag.runs[run_id] = run
        return run


def _dag_id(dag: ScriptedDag) -> str:
    return dag.dag_id


def _number(req: Request, name: str, default: int) -> int:
    return int((req.query.get(name) or [str(default)])[0])


def _batch_page(runs: list[dict[str, Any]], form: dict[str, Any]) -> Response:
    """A page of ``runs`` as both versions answer ``POST /dags/~/dagRuns/list``: those of
    ``dag_ids`` in ``states``, ended at or after ``end_date_gte``, sorted by ``order_by``
    (newest ``run_after`` first without it), ``page_limit`` of them."""
    wanted = set(form.get("dag_ids") or [])
    states = set(form.get("states") or [])
    since = form.get("end_date_gte")
    start = datetime.fromisoformat(since) if since else None
    chosen = [
        r
        for r in runs
        if r["dag_id"] in wanted
        and (not states or r.get("state") in states)
        and (
            start is None or (r.get("end_date") and datetime.fromisoformat(r["end_date"]) >= start)
        )
    ]
    order = form.get("order_by") or "-run_after"
    chosen.sort(key=lambda r: _sort_value(r.get(order.lstrip("-"))), reverse=order.startswith("-"))
    page = chosen[int(form.get("page_offset") or 0) :][: int(form.get("page_limit") or 100)]
    return Response(200, {"dag_runs": page, "total_entries": len(chosen)})


def _runs_page(runs: list[dict[str, Any]], req: Request, *, default_order: str) -> Response:
    """A page of ``runs`` as Airflow 3 answers ``.../dagRuns``: those in ``state`` (without
    it, on ``~``, those that ended), ended at or after ``end_date_gte``, sorted by
    ``order_by`` (a leading ``-``: descending; ``id``: in the order they were created)."""
    across = default_order == "id"
    states = set(req.query.get("state") or (ENDED_STATES if across else ()))
    since = (req.query.get("end_date_gte") or [""])[0]
    start = datetime.fromisoformat(since) if since else None
    chosen = [
        r
        for r in runs
        if (not states or r.get("state") in states)
        # as before: across DAGs, a run marked ended here (PATCH) without an end date is not
        # among those that ended
        and (not across or r.get("end_date") or r.get("state") not in ENDED_STATES)
        and (
            start is None or (r.get("end_date") and datetime.fromisoformat(r["end_date"]) >= start)
        )
    ]
    order = (req.query.get("order_by") or [default_order])[0]
    # "id", Airflow's row id, is the order runs were created in: when they were queued.
    key = "run_after" if order.lstrip("-") == "id" else order.lstrip("-")
    chosen.sort(key=lambda r: _sort_value(r.get(key)), reverse=order.startswith("-"))
    page = chosen[_number(req, "offset", 0) :][: _number(req, "limit", 100)]
    return Response(200, {"dag_runs": page, "total_entries": len(chosen)})


_NEVER = datetime.min.replace(tzinfo=UTC)


def _sort_value(value: Any) -> tuple[bool, datetime, str]:
    """Airflow's order on a field that may be null (nulls last), datetimes by instant."""
    if value is None:
        return (True, _NEVER, "")
    try:
        return (False, datetime.fromisoformat(str(value)), "")
    except ValueError:
        return (False, _NEVER, str(value))


def deployment(airflow: ScriptedAirflow, **options: Any) -> str:
    """One deployment's YAML mapping (flow style) for a scripted Airflow."""
    fields = {"url": airflow.url, "token": "${SCRIPTED_TOKEN}", "api_version": "v2", **options}
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()) + "}"


def flow_config(
    airflow: ScriptedAirflow,
    deployments: Mapping[str, Mapping[str, Any]],
    *,
    operators: Sequence[str] = (),
    viewers: Sequence[str] = (),
) -> str:
    """A config of ``deployments`` (name: options, e.g. ``{"confirm": True}``) on ``airflow``,
    where ``operators`` and ``viewers`` have their role everywhere."""
    lines = ["deployments:"]
    lines += [f"  {name}: {deployment(airflow, **opts)}" for name, opts in deployments.items()]
    lines.append("grants:")
    for role, users in (("operator", operators), ("viewer", viewers)):
        if users:
            lines.append(f"  - {{role: {role}, users: [{', '.join(users)}]}}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Delivery:
    """One request as Slack sends it: the body and its signed headers. Delivered twice, it is
    a replay."""

    body: bytes
    headers: dict[str, str]


FollowerMode = Literal["background", "manual"]
USER, CHANNEL = "U0ALICE", "C0FLOW"  # who asks and where, unless a test says otherwise
# How long Slack must hear nothing more before a request counts as answered (see settle).
QUIET_S = 0.01
FOLLOWING = ("queued", "running")  # a follow's reported states while its run is under way


class FlowBot:
    """The real bot on 127.0.0.1 with a config of the test's, over a local Slack."""

    def __init__(
        self, local: LocalBot, env: Mapping[str, str], tmp_path: Path, follower: FollowerMode
    ) -> None:
        self.local = local
        self.slack: SlackStandin = local.slack
        self._env = dict(env)
        self._tmp_path = tmp_path
        self._follower = follower
        self._session = requests.Session()
        self._session.trust_env = False  # a proxy from the environment must not see localhost
        self.others: list[FlowBot] = []

    # -- what Slack sends --------------------------------------------------------------------

    def command(self, text: str, *, user: str = USER, channel: str = CHANNEL) -> Answer:
        """``/airflow <text>`` as Slack sends it; returns the ack once the bot's work is done."""
        return self.deliver(self.slash_request(text, user=user, channel=channel))

    def click(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        user: str = USER,
        channel: str = CHANNEL,
        label: str | None = None,
    ) -> Answer:
        """Click the button ``action_id`` (the one whose text has ``label``, where several
        share it) on a message the bot posted (from the stand-in)."""
        button = find_button(message, action_id, label=label)
        return self.deliver(self.click_request(message, button, user=user, channel=channel))

    def click_at_once(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        users: list[str],
        channel: str = CHANNEL,
    ) -> list[Answer]:
        """The button clicked by each of ``users`` at the same moment (a user named twice
        double-clicks): every request is in flight before any is answered."""
        button = find_button(message, action_id)
        requests_ = [self.click_request(message, button, user=u, channel=channel) for u in users]
        barrier = threading.Barrier(len(requests_))

        def send(request: Delivery) -> Answer:
            barrier.wait()
            return self.deliver(request, settle=False)

        with ThreadPoolExecutor(len(requests_)) as pool:
            answers = list(pool.map(send, requests_))
        self.settle()
        return answers

    def submit(self, view: Mapping[str, Any], values: dict[str, Any], *, user: str) -> Answer:
        """Submit a form (modal) the bot opened, ``values`` as Slack's ``view.state.values``."""
        return self.deliver(self.submit_request(view, values, user=user))

    def slash_request(self, text: str, *, user: str = USER, channel: str = CHANNEL) -> Delivery:
        fields = slash_command_fields(
            text=text,
            response_url=self.slack.new_response_url(channel=channel),
            user_id=user,
            channel_id=channel,
            team_id=self.slack.team_id,
            team_domain=self.slack.team_domain,
            api_app_id=self.slack.app_id,
        )
        return self._signed(urlencode(fields).encode())

    def click_request(
        self, message: Mapping[str, Any], button: Mapping[str, Any], *, user: str, channel: str
    ) -> Delivery:
        """A click on ``button`` (``find_button``) of ``message``, signed, not yet sent."""
        payload = block_actions_payload(
            message_ts=str(message["ts"]),
            thread_ts=message.get("thread_ts"),
            action_id=str(button["action_id"]),
            value=str(button.get("value", "")),
            response_url=self.slack.new_response_url(channel=channel, message_ts=message["ts"]),
            user_id=user,
            channel_id=channel,
            team_id=self.slack.team_id,
            api_app_id=self.slack.app_id,
            message=dict(message),
        )
        return self._payload(payload)

    def submit_request(
        self, view: Mapping[str, Any], values: dict[str, Any], *, user: str
    ) -> Delivery:
        payload = view_submission_payload(
            callback_id=str(view.get("callback_id", "")),
            values=values,
            private_metadata=str(view.get("private_metadata", "")),
            view_id=str(view.get("id", "V000000001")),
            blocks=list(view.get("blocks") or []),
            user_id=user,
            team_id=self.slack.team_id,
            api_app_id=self.slack.app_id,
        )
        return self._payload(payload)

    def deliver(
        self, request: Delivery, *, headers: Mapping[str, str] | None = None, settle: bool = True
    ) -> Answer:
        """POST ``request`` to the bot as Slack would (``headers`` added, e.g. Slack's retry
        headers); with ``settle``, once the bot's work is done."""
        started = time.monotonic()
        resp = self._session.post(
            self.local.url, data=request.body, headers={**request.headers, **(headers or {})},
            timeout=30,
        )  # fmt: skip
        answer = Answer(resp.status_code, resp.text, time.monotonic() - started)
        if settle:
            self.settle()
        return answer

    def _payload(self, payload: dict[str, Any]) -> Delivery:
        return self._signed(urlencode({"payload": json.dumps(payload)}).encode())

    def _signed(self, body: bytes) -> Delivery:
        return Delivery(body, sign(self.local._secret, body))

    # -- waiting for the bot -----------------------------------------------------------------

    def settle(self, timeout: float = 10.0, quiet: float = QUIET_S) -> None:
        """Wait until the bot has no work in flight and Slack heard nothing new for ``quiet``
        seconds. Work a request starts is counted from before its ack, so a short quiet is
        enough; the background follower is not waited for (see ``follow_up``)."""
        deadline = time.monotonic() + timeout
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.slack.calls)
            if count != seen or self.local.busy:
                seen, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since > quiet:
                return
            time.sleep(0.005)
        raise AssertionError(f"the bot was still busy after {timeout}s")

    def follow_up(self) -> int:
        """One round of the follower, now: every run the bot follows is checked at once (not
        when it is next due), and what it finds is said. Returns how many were checked.

        For a bot started with ``follower="manual"``, whose follower checks only when told."""
        store = self.local.bot.store
        now = datetime.now(UTC)
        for f in store.follows():
            if f.reported in FOLLOWING:  # following it again from now keeps what was told
                store.add_follow(
                    deployment=f.deployment, dag_id=f.dag_id, run_id=f.run_id,
                    channel_id=f.channel_id, thread_ts=f.thread_ts, header=f.header,
                    requested_by=f.requested_by, reported=f.reported,
                    limit_seconds=(f.give_up_at - now).total_seconds(),
                )  # fmt: skip
        checked = self.local.bot.follower.tick()
        self.settle()
        return checked

    def deliver_owed(self) -> int:
        """One round of the outbox, now: every message waiting for its next try is tried at
        once (not after its backoff). Returns how many were tried."""
        store = self.local.bot.store
        with store._db.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.state == "pending")
                         .values(next_try_at=outbox.c.created_at))  # fmt: skip
        messenger = self.local.bot.messenger
        assert messenger is not None
        tried = messenger.deliver_due()
        self.settle()
        return tried

    def forget_user_groups(self) -> None:
        """Drop the bot's cache of user groups, as the 2 minutes it keeps them passing would:
        the next permission check asks Slack again."""
        groups = self.local.bot.groups
        assert groups is not None
        groups.forget()

    # -- what the bot said and did -----------------------------------------------------------

    def said(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """Every message in ``channel``, as it now stands (parents and thread replies)."""
        return self.slack.messages.get(channel, [])

    def watch_round(self) -> None:
        """One round of the watch, run by the test (its background loop stopped), and what
        it posted settled."""
        self.local.bot.watcher.tick()
        self.settle()

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        """The messages in ``channel`` that are not replies in a thread."""
        return [m for m in self.said(channel) if "thread_ts" not in m]

    def thread_texts(self, channel: str, parent: Mapping[str, Any]) -> list[str]:
        """What the replies in ``parent``'s thread say, in order."""
        return [visible_text(m) for m in self.slack.thread(channel, parent["ts"])]

    def with_button(self, action_id: str, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """The messages in ``channel`` that now carry a button ``action_id``, oldest first."""
        return [
            m
            for m in self.said(channel)
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
            if isinstance(e, dict) and e.get("action_id") == action_id
        ]

    def everything_said(self) -> list[str]:
        """Every text the bot sent to Slack: messages, updates, ephemerals, response URLs,
        views, as JSON strings, for assertions about what can never appear in any of them."""
        return [json.dumps(c.params, ensure_ascii=False) for c in self.slack.calls]

    def all_text(self) -> str:
        return "\n".join(self.everything_said())

    def told_privately_since(self, mark: int) -> str:
        """What only the asker or clicker saw (through ``response_url``) after the first
        ``mark`` calls to Slack (``len(flow.slack.calls)`` before the request)."""
        calls = self.slack.calls[mark:]
        return "\n".join(visible_text(c.params) for c in calls if c.method == "response_url")

    def audit(self) -> list[AuditEntry]:
        """The audit trail, oldest first."""
        return list(reversed(self.local.bot.store.audit(limit=100_000)))

    # -- more processes ----------------------------------------------------------------------

    def another_process(self, config: str | None = None) -> FlowBot:
        """A second bot process of the same Slack app (its signing secret) on the same store,
        with ``config`` (default the same): a second worker, or the bot restarted after the
        operator changed its config. Closed with this one."""
        env = dict(self._env)
        if config is not None:
            env["CHATOPS_CONFIG"] = str(_write_config(self._tmp_path, config))
        local = _local_bot(env, slack=self.slack, signing_secret=self.local._secret)
        if self._follower == "manual":
            local.bot.follower.stop()
        other = FlowBot(local, env, self._tmp_path, self._follower)
        self.others.append(other)
        return other

    def close(self) -> None:
        for other in self.others:
            other.close()
        self._session.close()
        self.local.close()


def find_button(
    message: Mapping[str, Any], action_id: str, *, label: str | None = None
) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if not isinstance(element, dict) or element.get("action_id") != action_id:
                continue
            if label is None or label in str((element.get("text") or {}).get("text", "")):
                return element
    raise AssertionError(f"no button {action_id!r} on the message: {message.get('text')!r}")


def _write_config(tmp_path: Path, config: str) -> Path:
    path = tmp_path / f"chatops-{secrets.token_hex(4)}.yml"
    path.write_text(config)
    return path


def _local_bot(env: Mapping[str, str], *, slack: SlackStandin, signing_secret: str) -> LocalBot:
    """What ``LocalBot.start`` builds, on a Slack stand-in that is already running."""
    settings, config = load_all(
        {**env, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": signing_secret,
         "SLACK_API_URL": slack.api_url}
    )  # fmt: skip
    migrate_store(settings.database_url)
    console_key = secrets.token_hex(16)
    bot = create_bot(settings, config, console_key=console_key)
    bot.start_background()
    return LocalBot(slack=slack, bot=bot, config=config, signing_secret=signing_secret,
                    console_key=console_key)  # fmt: skip


@contextmanager
def flow_bot(
    tmp_path: Path,
    config: str,
    env: Mapping[str, str] | None = None,
    *,
    follower: FollowerMode = "background",
) -> Iterator[FlowBot]:
    """The bot with ``config`` (YAML; ``${SCRIPTED_TOKEN}`` is the scripted Airflow's token)
    and a fresh SQLite store under ``tmp_path``.

    ``follower="manual"``: the runs the bot follows are checked only when the test calls
    ``FlowBot.follow_up``, not every few seconds in the background."""
    full_env = {
        "CHATOPS_CONFIG": str(_write_config(tmp_path, config)),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "SCRIPTED_TOKEN": TOKEN,
        **(env or {}),
    }
    local = LocalBot.start(full_env)
    if follower == "manual":
        local.bot.follower.stop()
    flow = FlowBot(local, full_env, tmp_path, follower)
    try:
        yield flow
    finally:
        flow.close()


class StartFlow(Protocol):
    def __call__(
        self, config: str, env: Mapping[str, str] | None = None, *, follower: FollowerMode = ...
    ) -> FlowBot: ...


@contextmanager
def flows(tmp_path: Path) -> Iterator[StartFlow]:
    """``start(config, env=None, follower=...)`` starts a bot as ``flow_bot`` does, on the
    store under ``tmp_path``, as often as wanted; every one is stopped on the way out."""
    with ExitStack() as stack:

        def start(
            config: str,
            env: Mapping[str, str] | None = None,
            *,
            follower: FollowerMode = "background",
        ) -> FlowBot:
            return stack.enter_context(flow_bot(tmp_path, config, env, follower=follower))

        yield start
