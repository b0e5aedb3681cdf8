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
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from bot.tools.localbot import Answer, LocalBot
from bot.tools.localslack import SlackStandin
from bot.tools.signing import block_actions_payload, view_submission_payload
from tests.support.fake_http import FakeHTTPServer, Request, Response
from tests.support.scripted_tasks import ScriptedTask, task_answer

API = "/api/v2"
TOKEN = "scripted-airflow-token-0123456789"


@dataclass
class ScriptedDag:
    dag_id: str
    is_paused: bool = False
    description: str | None = None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_tasks: list[str] = field(default_factory=list)
    tasks: dict[str, list[ScriptedTask]] = field(default_factory=dict)  # by run id, with logs

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


class ScriptedAirflow:
    """Airflow 3 as far as the bot asks it: DAGs, runs, pause, trigger, failed tasks, clear,
    task instances and their logs (``add_run``), a run's state.

    Every request is kept (``.http.requests``) so a test can say what reached Airflow."""

    def __init__(self, version: str = "3.0.6") -> None:
        self.version = version
        self.dags: dict[str, ScriptedDag] = {}
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

    def add_run(
        self, dag_id: str, run_id: str, *, state: str = "failed", tasks: Sequence[ScriptedTask] = ()
    ) -> dict[str, Any]:
        """A run that already happened (newer than those before it), with its tasks' logs."""
        now = datetime.now(UTC).isoformat()
        run: dict[str, Any] = {
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "state": state,
            "logical_date": None,
            "run_after": now,
            "start_date": now,
            "end_date": now,
            "run_type": "scheduled",
            "conf": {},
            "note": None,
        }
        dag = self.dags[dag_id]
        dag.runs[run_id] = run
        dag.tasks[run_id] = list(tasks)
        return run

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
        with self._lock:
            return self._route(req, parts)

    def _route(self, req: Request, parts: list[str]) -> Response:
        if parts == ["version"]:
            return Response(200, {"version": self.version, "git_version": None})
        if parts == ["dags"] and req.method == "GET":
            return self._list(req)
        if parts == ["dags", "~", "dagRuns", "list"]:
            wanted = set(req.json().get("dag_ids") or [])
            runs = [r for d in self.dags.values() if d.dag_id in wanted for r in d.runs.values()]
            runs.sort(key=lambda r: r["run_after"], reverse=True)
            return Response(200, {"dag_runs": runs, "total_entries": len(runs)})
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
        if rest == ["dagRuns"]:
            runs = sorted(dag.runs.values(), key=lambda r: r["run_after"], reverse=True)
            return Response(200, {"dag_runs": runs, "total_entries": len(runs)})
        if rest == ["clearTaskInstances"]:
            cleared = [{"task_id": t, "dag_id": dag.dag_id} for t in dag.failed_tasks]
            dag.failed_tasks = []
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
            tis = [{"task_id": t, "state": "failed"} for t in dag.failed_tasks]
            return Response(200, {"task_instances": tis, "total_entries": len(tis)})
        return Response(404, {"detail": "Not Found"})

    def _list(self, req: Request) -> Response:
        pattern = (req.query.get("dag_id_pattern") or [""])[0]
        limit = int((req.query.get("limit") or ["100"])[0])
        offset = int((req.query.get("offset") or ["0"])[0])
        found = sorted((d for d in self.dags.values() if pattern in d.dag_id), key=_dag_id)
        page = [d.json() for d in found[offset : offset + limit]]
        return Response(200, {"dags": page, "total_entries": len(found)})

    def _trigger(self, dag: ScriptedDag, body: dict[str, Any]) -> Response:
        now = datetime.now(UTC).isoformat()
        run_id = body.get("dag_run_id") or f"manual__{now}"
        if run_id in dag.runs:
            return Response(409, {"detail": f"DAG Run with id `{run_id}` already exists"})
        run = {
            "dag_id": dag.dag_id,
            "dag_run_id": run_id,
            "state": "queued",
            "logical_date": body.get("logical_date"),
            "run_after": now,
            "start_date": None,
            "end_date": None,
            "run_type": "manual",
            "conf": body.get("conf") or {},
            "note": body.get("note"),
        }
        dag.runs[run_id] = run
        return Response(200, run)


def _dag_id(dag: ScriptedDag) -> str:
    return dag.dag_id


def deployment(airflow: ScriptedAirflow, **options: Any) -> str:
    """One deployment's YAML mapping (flow style) for a scripted Airflow."""
    fields = {"url": airflow.url, "token": "${SCRIPTED_TOKEN}", "api_version": "v2", **options}
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()) + "}"


class FlowBot:
    """The real bot on 127.0.0.1 with a config of the test's, over a local Slack."""

    def __init__(self, local: LocalBot) -> None:
        self.local = local
        self.slack: SlackStandin = local.slack

    def command(self, text: str, *, user: str = "U0ALICE", channel: str = "C0FLOW") -> Answer:
        """``/airflow <text>`` as Slack sends it; returns the ack once the bot's work is done."""
        url = self.slack.new_response_url(channel=channel)
        answer = self.local.slash(text, user=user, channel=channel, response_url=url)
        self.settle()
        return answer

    def click(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0FLOW",
    ) -> Answer:
        """Click the button ``action_id`` on a message the bot posted (from the stand-in)."""
        button = find_button(message, action_id)
        payload = block_actions_payload(
            message_ts=str(message["ts"]),
            thread_ts=message.get("thread_ts"),
            action_id=action_id,
            value=str(button.get("value", "")),
            response_url=self.slack.new_response_url(channel=channel, message_ts=message["ts"]),
            user_id=user,
            channel_id=channel,
            team_id=self.slack.team_id,
            api_app_id=self.slack.app_id,
            message=dict(message),
        )
        answer = self.local.interact(payload)
        self.settle()
        return answer

    def submit(self, view: Mapping[str, Any], values: dict[str, Any], *, user: str) -> Answer:
        """Submit a form (modal) the bot opened, ``values`` as Slack's ``view.state.values``."""
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
        answer = self.local.interact(payload)
        self.settle()
        return answer

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has no work in flight and Slack heard nothing new for a moment."""
        deadline = time.monotonic() + timeout
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.slack.calls)
            if count != seen or self.local.busy:
                seen, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since > 0.15:
                return
            time.sleep(0.02)
        raise AssertionError(f"the bot was still busy after {timeout}s")

    def said(self, channel: str = "C0FLOW") -> list[dict[str, Any]]:
        """Every message in ``channel``, as it now stands (parents and thread replies)."""
        return self.slack.messages.get(channel, [])

    def everything_said(self) -> list[str]:
        """Every text the bot sent to Slack: messages, updates, ephemerals, response URLs,
        views, as JSON strings, for assertions about what can never appear in any of them."""
        return [json.dumps(c.params, ensure_ascii=False) for c in self.slack.calls]


def find_button(message: Mapping[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no button {action_id!r} on the message: {message.get('text')!r}")


@contextmanager
def flow_bot(
    tmp_path: Path, config: str, env: Mapping[str, str] | None = None
) -> Iterator[FlowBot]:
    """The bot with ``config`` (YAML; ``${SCRIPTED_TOKEN}`` is the scripted Airflow's token)
    and a fresh SQLite store under ``tmp_path``."""
    config_path = tmp_path / f"chatops-{secrets.token_hex(4)}.yml"
    config_path.write_text(config)
    full_env = {
        "CHATOPS_CONFIG": str(config_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "SCRIPTED_TOKEN": TOKEN,
        **(env or {}),
    }
    local = LocalBot.start(full_env)
    try:
        yield FlowBot(local)
    finally:
        local.close()
