"""The client's reads for the watcher's silent-trouble events, against a scripted server in the
shapes Airflow 2.11 (/api/v1) and 3.3 (/api/v2) really answer (recorded from them): what is
asked of each version, and what the bot makes of the answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.airflow import (
    AirflowClient,
    AirflowNotFound,
    AirflowUnavailable,
    DagImportError,
    ImportErrorPage,
    RunPage,
)
from testkit.airflow_client import client
from testkit.fake_http import FakeHTTPServer, Response
from testkit.flow import TOKEN, ScriptedAirflow
from testkit.scripted_tasks import ScriptedTask

RUN = "manual__2026-12-07T20:44:36.583798+00:00"
Q_RUN = "manual__2026-12-07T20%3A44%3A36.583798%2B00%3A00"
V2_ACTIVE: dict[str, object] = {
    "dag_id": "silent_slow",
    "dag_run_id": RUN,
    "state": "queued",
    "logical_date": None,
    "queued_at": "2026-12-07T20:44:36.586603Z",
    "start_date": None,
    "end_date": None,
    "run_after": "2026-12-07T20:44:36.583798Z",
    "run_type": "manual",
    "conf": {},
    "note": None,
}
# Airflow 2.11's run has no queued_at: its API never gives it.
V1_ACTIVE: dict[str, object] = {
    "dag_id": "silent_slow",
    "dag_run_id": "manual__2026-12-07T20:44:07.305810+00:00",
    "state": "running",
    "execution_date": "2026-12-07T20:44:07.305810+00:00",
    "logical_date": "2026-12-07T20:44:07.305810+00:00",
    "start_date": "2026-12-07T20:44:08.572642+00:00",
    "end_date": None,
    "external_trigger": True,
    "run_type": "manual",
    "conf": {},
    "note": None,
}
V2_WAITING = {
    "task_id": "sleep",
    "dag_id": "silent_slow",
    "dag_run_id": RUN,
    "map_index": -1,
    "state": "queued",
    "try_number": 1,
    "start_date": None,
    "end_date": None,
    "pool": "default_pool",
    "queued_when": "2026-12-07T20:44:37.863154Z",
    "scheduled_when": "2026-12-07T20:44:37.851933Z",
}
V1_WAITING = {
    "task_id": "sleep",
    "dag_id": "silent_slow",
    "dag_run_id": RUN,
    "map_index": -1,
    "state": "scheduled",
    "try_number": 0,
    "start_date": None,
    "end_date": None,
    "pool": "default_pool",
    "queued_when": None,
}
V1_IMPORT_ERROR = {
    "filename": "/opt/airflow/dags/broken.py",
    "import_error_id": 1,
    "stack_trace": "Traceback (most recent call last):\n  ...\nValueError: broken on purpose\n",
    "timestamp": "2026-12-07T20:45:51.782110+00:00",
}
V2_IMPORT_ERROR = {
    "import_error_id": 3,
    "timestamp": "2026-12-07T20:45:55.012507Z",
    "filename": "broken.py",  # relative to its bundle, where v1 gives the full path
    "bundle_name": "dags-folder",
    "stack_trace": "Traceback (most recent call last):\n  ...\nValueError: broken on purpose\n",
}
DEPENDENCIES = [
    {"name": "Dag Not Paused", "reason": "Task's DAG 'silent_never' is paused."},
    {
        "name": "Dagrun Running",
        "reason": "Task instance's dagrun was not in the 'running' state but in the state "
        "'queued'.",
    },
    {"name": "Pool Slots Available", "reason": "Pool Slots Available: not enough slots."},
]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- runs under way ---------------------------------------------------------------------------


def test_active_runs_on_v2_is_one_get_of_running_and_queued_runs_oldest_first(
    server: FakeHTTPServer,
) -> None:
    answer = {"dag_runs": [V2_ACTIVE], "total_entries": 31}
    server.route("GET", "/api/v2/dags/~/dagRuns", Response(200, answer))
    page = client(server).active_runs(limit=10, offset=20)
    assert page == RunPage(runs=page.runs, total=31)
    [run] = page.runs
    assert (run.dag_id, run.run_id, run.state) == ("silent_slow", RUN, "queued")
    assert run.queued_at == when("2026-12-07T20:44:36.586603+00:00") and run.start_date is None
    [asked] = server.requests
    assert asked.query == {
        "state": ["running", "queued"],
        "order_by": ["id"],
        "limit": ["10"],
        "offset": ["20"],
    }


def test_active_runs_on_v1_is_one_list_post_retried_as_a_read(server: FakeHTTPServer) -> None:
    answer = {"dag_runs": [V1_ACTIVE], "total_entries": 1}
    server.route(
        "POST", "/api/v1/dags/~/dagRuns/list", Response(503, "busy"), Response(200, answer)
    )
    page = client(server, api_version="v1").active_runs(limit=500, offset=-3)
    [run] = page.runs
    assert run.state == "running" and run.start_date == when("2026-12-07T20:44:08.572642+00:00")
    assert run.queued_at is None  # Airflow 2 does not say
    assert len(server.requests) == 2
    assert json.loads(server.requests[-1].body) == {
        "states": ["running", "queued"],
        "order_by": "id",
        "page_limit": 100,
        "page_offset": 0,
    }


# -- task instances waiting -------------------------------------------------------------------


def test_waiting_tasks_on_v2_lists_scheduled_and_queued_instances_of_every_run(
    server: FakeHTTPServer,
) -> None:
    answer = {"task_instances": [V2_WAITING], "total_entries": 1}
    server.route("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", Response(200, answer))
    page = client(server).waiting_tasks()
    [ti] = page.tasks
    assert page.total == 1
    assert (ti.dag_id, ti.run_id, ti.task_id, ti.state, ti.pool) == (
        "silent_slow", RUN, "sleep", "queued", "default_pool",
    )  # fmt: skip
    assert ti.queued_at == when("2026-12-07T20:44:37.863154+00:00")
    assert ti.scheduled_at == when("2026-12-07T20:44:37.851933+00:00")
    [asked] = server.requests
    assert asked.query == {"state": ["scheduled", "queued"], "limit": ["100"], "offset": ["0"]}


def test_waiting_tasks_on_v1_is_one_list_post_and_has_no_scheduled_time(
    server: FakeHTTPServer,
) -> None:
    answer = {"task_instances": [V1_WAITING], "total_entries": 4}
    server.route(
        "POST", "/api/v1/dags/~/dagRuns/~/taskInstances/list", Response(502), Response(200, answer)
    )
    page = client(server, api_version="v1").waiting_tasks(limit=2, offset=2)
    [ti] = page.tasks
    assert page.total == 4 and ti.state == "scheduled" and ti.try_number == 0
    assert ti.queued_at is None and ti.scheduled_at is None and ti.run_id == RUN
    assert len(server.requests) == 2
    assert server.requests[-1].json() == {
        "state": ["scheduled", "queued"],
        "page_limit": 2,
        "page_offset": 2,
    }


def test_a_task_instance_without_the_new_fields_parses_with_none(server: FakeHTTPServer) -> None:
    answer = {"task_instances": [{"task_id": "t", "state": "queued", "pool": None}]}
    server.route("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", Response(200, answer))
    [ti] = client(server).waiting_tasks().tasks
    assert (ti.dag_id, ti.run_id, ti.pool, ti.queued_at, ti.scheduled_at) == (
        "", "", None, None, None,
    )  # fmt: skip


# -- why a task waits -------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_task_dependencies_are_airflow_s_reasons_each_named_once(
    server: FakeHTTPServer, api_version: str
) -> None:
    path = f"/api/{api_version}/dags/silent_never/dagRuns/{Q_RUN}/taskInstances/never/dependencies"
    server.route("GET", path, Response(200, {"dependencies": DEPENDENCIES}))
    reasons = client(server, api_version=api_version).task_dependencies(
        "silent_never", RUN, "never"
    )
    assert reasons == [
        "Dag Not Paused: Task's DAG 'silent_never' is paused.",
        "Dagrun Running: Task instance's dagrun was not in the 'running' state but in the "
        "state 'queued'.",
        "Pool Slots Available: not enough slots.",  # the reason already said its name
    ]
    assert server.requests[0].target.startswith(
        f"/api/{api_version}/dags/silent_never/dagRuns/{Q_RUN}/"
    )


def test_a_mapped_task_s_dependencies_are_asked_at_its_map_index(server: FakeHTTPServer) -> None:
    path = f"/api/v2/dags/etl/dagRuns/{Q_RUN}/taskInstances/load/3/dependencies"
    server.route("GET", path, Response(200, {"dependencies": []}))
    assert client(server).task_dependencies("etl", RUN, "load", map_index=3) == []
    assert len(server.requests) == 1


def test_dependencies_of_odd_shapes_give_what_can_be_read(server: FakeHTTPServer) -> None:
    odd = [{"name": "Only A Name"}, {"reason": "only a reason"}, "junk", {"name": "", "reason": ""}]
    path = f"/api/v2/dags/etl/dagRuns/{Q_RUN}/taskInstances/t/dependencies"
    server.route("GET", path, Response(200, {"dependencies": odd}), Response(200, {}))
    assert client(server).task_dependencies("etl", RUN, "t") == ["Only A Name", "only a reason"]


def test_dependencies_of_an_unknown_task_instance_is_not_found(server: FakeHTTPServer) -> None:
    # Airflow 3.3 wraps this message in a list (a stray tuple in its code).
    detail = ["The Task Instance with dag_id: `etl`, run_id: `r`, task_id: `t` and map_index: "
              "`-1` was not found"]  # fmt: skip
    server.route(
        "GET",
        "/api/v2/dags/etl/dagRuns/r/taskInstances/t/dependencies",
        Response(404, {"detail": detail}),
    )
    with pytest.raises(AirflowNotFound, match="task_id: `t` and map_index: `-1` was not found"):
        client(server).task_dependencies("etl", "r", "t")


# -- files that do not import -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "raw", "filename", "bundle"),
    [
        ("v1", V1_IMPORT_ERROR, "/opt/airflow/dags/broken.py", None),
        ("v2", V2_IMPORT_ERROR, "broken.py", "dags-folder"),
    ],
)
def test_import_errors_are_one_get_by_file_name(
    server: FakeHTTPServer,
    api_version: str,
    raw: dict[str, object],
    filename: str,
    bundle: str | None,
) -> None:
    answer = {"import_errors": [raw], "total_entries": 12}
    server.route("GET", f"/api/{api_version}/importErrors", Response(200, answer))
    page = client(server, api_version=api_version).import_errors(limit=1, offset=11)
    [error] = page.errors
    assert isinstance(page, ImportErrorPage) and page.total == 12
    assert isinstance(error, DagImportError)
    assert (error.filename, error.bundle) == (filename, bundle)
    assert error.stack_trace.splitlines()[-1] == "ValueError: broken on purpose"
    assert error.timestamp is not None and error.timestamp.tzinfo is not None
    assert server.requests[0].query == {
        "limit": ["1"],
        "offset": ["11"],
        "order_by": ["filename"],
    }


def test_an_import_error_missing_its_fields_is_still_a_value(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/importErrors", Response(200, {"import_errors": [{}]}))
    page = client(server).import_errors()
    assert page == ImportErrorPage(
        errors=(DagImportError(id=0, filename="", stack_trace=""),), total=1
    )


# -- a DAG's successes and details ------------------------------------------------------------


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_successful_runs_are_asked_latest_ended_first(
    server: FakeHTTPServer, api_version: str
) -> None:
    runs = [
        {"dag_id": "etl", "dag_run_id": "b", "state": "success",
         "end_date": "2026-12-07T10:00:00+00:00"},
        {"dag_id": "etl", "dag_run_id": "a", "state": "success",
         "end_date": "2026-12-06T10:00:00+00:00"},
    ]  # fmt: skip
    path = f"/api/{api_version}/dags/etl/dagRuns"
    server.route("GET", path, Response(200, {"dag_runs": runs, "total_entries": 9}))
    found = client(server, api_version=api_version).successful_runs("etl", limit=2)
    assert [r.run_id for r in found] == ["b", "a"]
    assert server.requests[0].query == {
        "state": ["success"],
        "order_by": ["-end_date"],
        "limit": ["2"],
    }


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_dag_details_carry_max_active_runs(server: FakeHTTPServer, api_version: str) -> None:
    details = {"dag_id": "silent_slow", "is_paused": True, "max_active_runs": 1, "params": {}}
    server.route("GET", f"/api/{api_version}/dags/silent_slow/details", Response(200, details))
    dag = client(server, api_version=api_version).dag_details("silent_slow")
    assert (dag.dag_id, dag.is_paused, dag.max_active_runs) == ("silent_slow", True, 1)


def test_a_dag_without_max_active_runs_has_none(server: FakeHTTPServer) -> None:
    answer = {"dag_id": "etl", "max_active_runs": "x"}
    server.route("GET", "/api/v2/dags/etl", Response(200, answer))
    assert client(server).get_dag("etl").max_active_runs is None


def test_failures_of_the_new_reads_are_the_client_s_errors(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/importErrors", Response(500, "boom"))
    server.route("GET", "/api/v2/dags/nope/details", Response(404, {"detail": "no such DAG"}))
    server.route("GET", "/api/v2/dags/~/dagRuns", Response(200, "not json"))
    with pytest.raises(AirflowUnavailable):
        client(server).import_errors()
    with pytest.raises(AirflowNotFound, match="no such DAG"):
        client(server).dag_details("nope")
    with pytest.raises(AirflowUnavailable, match="not JSON"):
        client(server).active_runs()


# -- the scripted Airflow 3 answers them as the real one does ---------------------------------


@pytest.fixture
def scripted() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as airflow:
        yield airflow


def scripted_client(airflow: ScriptedAirflow) -> AirflowClient:
    return AirflowClient(base_url=airflow.url, name="prod", token=TOKEN, api_version="v2")


def test_the_scripted_airflow_lists_runs_under_way_and_waiting_tasks(
    scripted: ScriptedAirflow,
) -> None:
    now = datetime.now(UTC)
    scripted.add_dag("etl", max_active_runs=1)
    scripted.add_dag("report")
    running = scripted.add_running_run(
        "etl",
        now - timedelta(minutes=40),
        tasks=[ScriptedTask("extract", state="running", start_date=now.isoformat())],
    )
    waiting = ScriptedTask(
        "load", state="scheduled", try_number=0,
        scheduled_at=(now - timedelta(minutes=5)).isoformat(),
        dependencies=[{"name": "Pool Slots Available", "reason": "no slot in pool 'db'"}],
    )  # fmt: skip
    queued = scripted.add_queued_run("report", now - timedelta(minutes=50), tasks=[waiting])
    scripted.add_past_run("report", "old", state="success")
    airflow = scripted_client(scripted)

    page = airflow.active_runs()
    assert [r.run_id for r in page.runs] == [queued["dag_run_id"], running["dag_run_id"]]
    assert page.total == 2
    assert page.runs[0].queued_at == now - timedelta(minutes=50)
    assert page.runs[1].start_date == now - timedelta(minutes=40)
    [ti] = airflow.waiting_tasks().tasks
    assert (ti.dag_id, ti.run_id, ti.task_id) == ("report", queued["dag_run_id"], "load")
    assert airflow.task_dependencies("report", queued["dag_run_id"], "load") == [
        "Pool Slots Available: no slot in pool 'db'"
    ]
    assert airflow.task_dependencies("etl", running["dag_run_id"], "extract") == []
    assert airflow.dag_details("etl").max_active_runs == 1
    # The watcher's ended runs are still only those that ended.
    assert [r.run_id for r in airflow.ended_runs(since=None).runs] == ["old"]


def test_the_scripted_airflow_lists_successes_latest_first_and_import_errors(
    scripted: ScriptedAirflow,
) -> None:
    scripted.add_dag("etl")
    for run_id in ("first", "second", "third"):
        scripted.add_past_run("etl", run_id, state="success")
    scripted.add_past_run("etl", "broke", state="failed")
    airflow = scripted_client(scripted)
    assert [r.run_id for r in airflow.successful_runs("etl", limit=2)] == ["third", "second"]

    scripted.add_import_error("b.py", "Traceback ...\nSyntaxError: invalid syntax")
    scripted.add_import_error("a.py", "Traceback ...\nValueError: nope")
    page = airflow.import_errors()
    assert [(e.filename, e.stack_trace.splitlines()[-1]) for e in page.errors] == [
        ("a.py", "ValueError: nope"),
        ("b.py", "SyntaxError: invalid syntax"),
    ]
    scripted.fix_import_error("a.py")
    assert [e.filename for e in airflow.import_errors().errors] == ["b.py"]
