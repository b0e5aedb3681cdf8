"""The client's task-instance, log and run-state operations against a scripted Airflow, in the
shapes Airflow 3.3 and 2.11 really answer (recorded from them): what is asked, what comes back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.airflow import (
    AirflowBadRequest,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowUnavailable,
    RunPage,
    TaskInstance,
)
from bot.airflow.logs import MAX_LINE_CHARS
from testkit.airflow_client import client
from testkit.fake_http import FakeHTTPServer, Request, Response

RUN = "manual__2026-12-01T17:36:09+00:00"
Q_RUN = "manual__2026-12-01T17%3A36%3A09%2B00%3A00"  # as the client puts it in the path
TIS = f"/dags/etl/dagRuns/{Q_RUN}/taskInstances"
LOG = f"{TIS}/explode/logs/1"


def ti(
    task_id: str, state: str | None = "success", start: int | None = 0, **more: object
) -> dict[str, object]:
    started = None if start is None else f"2026-12-01T17:36:{10 + start:02d}.5Z"
    return {
        "task_id": task_id,
        "state": state,
        "try_number": 1 if start is not None else 0,
        "map_index": -1,
        "start_date": started,
        "end_date": None,
        **more,
    }


def record(event: str, level: str = "info", **more: object) -> dict[str, object]:
    return {
        "timestamp": "2026-12-01T17:36:16.111623Z",
        "event": event,
        "level": level,
        "logger": "task.stdout",
        **more,
    }


# Airflow 3.3's first records: where the log was read from, as a group; then the task's.
SOURCES = [
    {"event": "::group::Log message source details"},
    {"event": "/opt/airflow/logs/dag_id=etl/run_id=x/task_id=explode/attempt=1.log"},
    {"event": "::endgroup::"},
    record("::group::Pre Execute", logger="task"),
    record("DAG bundles loaded: dags-folder", logger="task"),
    record("::endgroup::", logger="task"),
]
ERROR = record(
    "Task failed with exception",
    level="error",
    logger="task",
    error_detail=[
        {
            "exc_type": "RuntimeError",
            "exc_value": "boom",
            "is_cause": False,
            "frames": [
                {"filename": "/opt/airflow/task_runner.py", "lineno": 1579, "name": "run"},
                {"filename": "/dags/etl.py", "lineno": 28, "name": "explode"},
            ],
        }
    ],
)


def v1_content(text: str, host: str = "worker-1") -> str:
    """Airflow 2's JSON ``content``: ``str()`` of its reader's ``[(host, text)]``."""
    return str([(host, text)])


V1_TEXT = (
    " INFO - ::group::Log message source details\n"
    "*** Found local files:\n"
    "***   * /opt/airflow/logs/dag_id=etl/attempt=1.log\n"
    " INFO - ::endgroup::\n"
    "[2026-12-01T17:38:04.763+0000] {local_task_job_runner.py:123} INFO - ::group::Pre task\n"
    "[2026-12-01T17:38:04.779+0000] {taskinstance.py:2885} INFO - Starting attempt 1 of 1\n"
    "[2026-12-01T17:38:04.788+0000] {logging_mixin.py:190} INFO - it's 'quoted' \\ and \"so\"\n"
    "Traceback (most recent call last):\n"
    '  File "/dags/etl.py", line 28, in explode\n'
    "RuntimeError: boom\n"
    "[2026-12-01T17:38:04.922+0000] {local_task_job_runner.py:245} INFO - ::endgroup::"
)


# -- task instances ---------------------------------------------------------------------------


def test_task_instances_come_in_the_order_they_started_then_by_id(server: FakeHTTPServer) -> None:
    page = [
        ti("extract", start=5),
        ti("wait", "upstream_failed", None),
        ti("load", start=1),
        ti("audit", None, None),
    ]
    server.route(
        "GET", f"/api/v2{TIS}", Response(200, {"task_instances": page, "total_entries": 4})
    )
    tasks = client(server).task_instances("etl", RUN)
    # `load` started before `extract`; those that never started come last, by id.
    assert [t.task_id for t in tasks] == ["load", "extract", "audit", "wait"]
    assert tasks[0] == TaskInstance(
        task_id="load",
        state="success",
        try_number=1,
        start_date=datetime(2026, 12, 1, 17, 36, 11, 500000, tzinfo=UTC),
    )
    assert tasks[2].state is None and tasks[3].try_number == 0
    [asked] = server.requests
    assert asked.path == f"/api/v2{TIS}"
    assert asked.query == {"limit": ["100"], "offset": ["0"]}


def test_task_instances_are_paged_to_the_end_of_a_large_run(server: FakeHTTPServer) -> None:
    everyone = [ti(f"t{n:03d}", start=n % 40) for n in range(230)]

    def pages(req: Request) -> Response:
        offset, limit = int(req.query["offset"][0]), int(req.query["limit"][0])
        return Response(
            200,
            {"task_instances": everyone[offset : offset + limit], "total_entries": len(everyone)},
        )

    server.route("GET", f"/api/v1{TIS}", pages)
    tasks = client(server, api_version="v1").task_instances("etl", RUN, states=["failed"])
    assert len(tasks) == 230 and len({t.task_id for t in tasks}) == 230
    assert [r.query["offset"] for r in server.requests] == [["0"], ["100"], ["200"]]
    assert all(r.query["state"] == ["failed"] for r in server.requests)


def test_task_instances_stop_when_airflow_gives_no_more(server: FakeHTTPServer) -> None:
    # A total that overstates what comes (a run cleared while being read) ends the paging.
    server.route(
        "GET",
        f"/api/v2{TIS}",
        Response(200, {"task_instances": [ti("a")], "total_entries": 500}),
        Response(200, {"task_instances": [], "total_entries": 500}),
    )
    assert [t.task_id for t in client(server).task_instances("etl", RUN)] == ["a"]
    assert len(server.requests) == 2


def test_mapped_instances_of_one_task_are_all_kept(server: FakeHTTPServer) -> None:
    mapped = [ti("fan", start=n, map_index=n) for n in (2, 0, 1)]
    server.route(
        "GET", f"/api/v2{TIS}", Response(200, {"task_instances": mapped, "total_entries": 3})
    )
    assert [t.map_index for t in client(server).task_instances("etl", RUN)] == [0, 1, 2]


def test_task_instances_of_an_unknown_run_are_not_found(server: FakeHTTPServer) -> None:
    server.route("GET", f"/api/v2{TIS}", Response(404, {"detail": "The DagRun was not found"}))
    with pytest.raises(AirflowNotFound, match="The DagRun was not found"):
        client(server).task_instances("etl", RUN)


# -- logs: Airflow 3 -------------------------------------------------------------------------


def test_a_v2_log_reads_its_records_as_lines_without_the_group_markers(
    server: FakeHTTPServer,
) -> None:
    records = [*SOURCES, record("line 1"), record("two\nlines"), ERROR, record("::endgroup::")]
    server.route(
        "GET", f"/api/v2{LOG}", Response(200, {"content": records, "continuation_token": None})
    )
    lines = client(server).task_log("etl", RUN, "explode", try_number=1)
    assert lines == [
        "[17:36:16] INFO - DAG bundles loaded: dags-folder",
        "[17:36:16] INFO - line 1",
        "[17:36:16] INFO - two",
        "lines",
        "[17:36:16] ERROR - Task failed with exception",
        "Traceback (most recent call last):",
        '  File "/opt/airflow/task_runner.py", line 1579, in run',
        '  File "/dags/etl.py", line 28, in explode',
        "RuntimeError: boom",
    ]
    [asked] = server.requests
    assert asked.query == {"map_index": ["-1"]}
    assert asked.headers["Accept"] == "application/json"


def test_a_v2_log_follows_its_continuation_tokens_to_the_end(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        f"/api/v2{LOG}",
        Response(200, {"content": [record("first")], "continuation_token": "t1"}),
        Response(200, {"content": [record("second")], "continuation_token": "t2"}),
        Response(200, {"content": [record("third")], "continuation_token": None}),
    )
    lines = client(server).task_log("etl", RUN, "explode", try_number=1, map_index=3)
    assert [line.split(" - ")[1] for line in lines] == ["first", "second", "third"]
    assert [r.query.get("token") for r in server.requests] == [None, ["t1"], ["t2"]]
    assert {r.query["map_index"][0] for r in server.requests} == {"3"}


def test_a_running_task_s_log_is_read_until_nothing_new_comes(server: FakeHTTPServer) -> None:
    # A task still writing keeps getting tokens: the client stops when a chunk adds nothing.
    server.route(
        "GET",
        f"/api/v2{LOG}",
        Response(200, {"content": [record("so far")], "continuation_token": "t1"}),
        Response(200, {"content": [], "continuation_token": "t2"}),
    )
    assert len(client(server).task_log("etl", RUN, "explode", try_number=1)) == 1
    assert len(server.requests) == 2


def test_chained_exceptions_read_as_python_prints_them(server: FakeHTTPServer) -> None:
    frame = {"filename": "/dags/etl.py", "lineno": 3, "name": "load"}
    detail = [
        {"exc_type": "KeyError", "exc_value": "'id'", "is_cause": False, "frames": [frame]},
        "not an exception",
        {"exc_type": "ValueError", "exc_value": "bad row", "is_cause": True, "frames": []},
        {"exc_type": "OSError", "exc_value": "disk", "is_cause": False, "frames": ["?"]},
    ]
    error = {"event": "Task failed", "level": "error", "error_detail": detail}
    server.route("GET", f"/api/v2{LOG}", Response(200, {"content": [error]}))
    assert client(server).task_log("etl", RUN, "explode", try_number=1) == [
        "ERROR - Task failed",
        "Traceback (most recent call last):",
        '  File "/dags/etl.py", line 3, in load',
        "KeyError: 'id'",
        "The above exception was the direct cause of the following exception:",
        "Traceback (most recent call last):",
        "ValueError: bad row",
        "During handling of the above exception, another exception occurred:",
        "Traceback (most recent call last):",
        "OSError: disk",
    ]


@pytest.mark.parametrize(
    "content",
    [
        ["plain line", "two\nlines", 7, {"event": "a record"}],  # Airflow 3.0: strings too
        "plain line\ntwo\nlines\na record",
    ],
)
def test_a_v2_log_of_plain_strings_is_read_too(server: FakeHTTPServer, content: object) -> None:
    server.route("GET", f"/api/v2{LOG}", Response(200, {"content": content}))
    lines = client(server).task_log("etl", RUN, "explode", try_number=1)
    assert lines == ["plain line", "two", "lines", "a record"]


def test_the_source_details_are_said_when_there_is_nothing_else(server: FakeHTTPServer) -> None:
    missing = [
        {"event": "::group::Log message source details"},
        {"event": "Log file not found on worker 'vm'"},
        {"event": "::endgroup::"},
    ]
    server.route("GET", f"/api/v2{LOG}", Response(200, {"content": missing}))
    assert client(server).task_log("etl", RUN, "explode", try_number=1) == [
        "Log file not found on worker 'vm'"
    ]


def test_only_the_last_lines_of_a_huge_log_are_kept_and_it_says_so(
    server: FakeHTTPServer,
) -> None:
    chunk = [record(f"line {n}") for n in range(15_000)]
    server.route(
        "GET",
        f"/api/v2{LOG}",
        Response(200, {"content": chunk, "continuation_token": "t1"}),
        Response(200, {"content": [record(f"more {n}") for n in range(10_000)]}),
    )
    lines = client(server).task_log("etl", RUN, "explode", try_number=1)
    assert len(lines) == 20_001
    assert lines[0] == (
        "[5,000 earlier lines left out: the bot reads at most the last 20,000 lines or 2 MB "
        "of a log]"
    )
    assert lines[1].endswith("line 5000") and lines[-1].endswith("more 9999")


def test_a_log_of_long_lines_is_bounded_by_its_size_too(server: FakeHTTPServer) -> None:
    long = "x" * 50_000
    server.route("GET", f"/api/v2{LOG}", Response(200, {"content": [long] * 300}))
    lines = client(server).task_log("etl", RUN, "explode", try_number=1)
    assert all(len(line) <= MAX_LINE_CHARS + 1 for line in lines[1:])
    assert sum(len(line) + 1 for line in lines[1:]) <= 2_000_000
    assert lines[0].startswith("[101 earlier lines left out")


def test_a_log_that_never_ends_is_read_a_bounded_number_of_times(server: FakeHTTPServer) -> None:
    def forever(req: Request) -> Response:
        n = len(server.requests)
        return Response(200, {"content": [record(f"line {n}")], "continuation_token": f"t{n}"})

    server.route("GET", f"/api/v2{LOG}", forever)
    lines = client(server).task_log("etl", RUN, "explode", try_number=1)
    assert len(server.requests) == 50 and len(lines) == 50


def test_a_try_that_never_ran_has_no_log_and_nothing_is_asked(server: FakeHTTPServer) -> None:
    with pytest.raises(AirflowBadRequest, match="never ran"):
        client(server).task_log("etl", RUN, "explode", try_number=0)
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, AirflowNotFound), (403, AirflowNotAllowed), (400, AirflowBadRequest)],
)
def test_log_errors_are_the_client_s_typed_errors(
    server: FakeHTTPServer, status: int, error: type[Exception]
) -> None:
    server.route("GET", f"/api/v2{LOG}", Response(status, {"detail": "TaskInstance not found"}))
    with pytest.raises(error, match="TaskInstance not found"):
        client(server).task_log("etl", RUN, "explode", try_number=1)


def test_a_log_read_is_retried_like_any_read(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        f"/api/v2{LOG}",
        Response(502, "bad gateway"),
        Response(200, {"content": [record("ok")]}),
    )
    assert client(server).task_log("etl", RUN, "explode", try_number=1) == ["[17:36:16] INFO - ok"]
    server.route("GET", f"/api/v2{LOG}", Response(503, "down"))
    with pytest.raises(AirflowUnavailable):
        client(server).task_log("etl", RUN, "explode", try_number=1)


# -- logs: Airflow 2 -------------------------------------------------------------------------


def test_a_v1_log_is_its_text_as_lines_without_the_source_details(server: FakeHTTPServer) -> None:
    token = "eyJlbmRfb2ZfbG9nIjp0cnVlLCJsb2dfcG9zIjoxNDI4Mn0.sig"
    server.route(
        "GET",
        f"/api/v1{LOG}",
        Response(200, {"content": v1_content(V1_TEXT), "continuation_token": token}),
        # Airflow 2 always gives a token; the next chunk of a finished log is empty.
        Response(200, {"content": v1_content(""), "continuation_token": token}),
    )
    lines = client(server, api_version="v1").task_log("etl", RUN, "explode", try_number=1)
    assert lines == [
        "[2026-12-01T17:38:04.779+0000] {taskinstance.py:2885} INFO - Starting attempt 1 of 1",
        "[2026-12-01T17:38:04.788+0000] {logging_mixin.py:190} INFO - it's 'quoted' \\ and \"so\"",
        "Traceback (most recent call last):",
        '  File "/dags/etl.py", line 28, in explode',
        "RuntimeError: boom",
    ]
    assert [r.query.get("token") for r in server.requests] == [None, [token]]


def test_a_v1_log_of_a_running_task_gathers_its_chunks(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        f"/api/v1{LOG}",
        Response(200, {"content": v1_content("a\nb"), "continuation_token": "p3"}),
        Response(200, {"content": v1_content("c"), "continuation_token": "p5"}),
        Response(200, {"content": v1_content(""), "continuation_token": "p5"}),
    )
    lines = client(server, api_version="v1").task_log("etl", RUN, "explode", try_number=1)
    assert lines == ["a", "b", "c"]
    assert len(server.requests) == 3


def test_a_v1_log_without_content_or_with_odd_pairs_reads_what_it_can(
    server: FakeHTTPServer,
) -> None:
    server.route("GET", f"/api/v1{LOG}", Response(200, {"continuation_token": None}))
    v1 = client(server, api_version="v1")
    assert v1.task_log("etl", RUN, "explode", try_number=1) == []
    odd = "[('host', 'from a pair'), 'ab', ['h', 'from a list'], ('a', 'b', 'c')]"
    server.route("GET", f"/api/v1{LOG}", Response(200, {"content": odd}))
    assert v1.task_log("etl", RUN, "explode", try_number=1) == ["from a pair", "from a list"]


def test_a_v1_log_that_is_plain_text_is_taken_as_it_is(server: FakeHTTPServer) -> None:
    # Another log handler, or a content that is not the repr of pairs: still lines.
    server.route("GET", f"/api/v1{LOG}", Response(200, {"content": "[(broken\nsecond"}))
    lines = client(server, api_version="v1").task_log("etl", RUN, "explode", try_number=1)
    assert lines == ["[(broken", "second"]


def test_a_v1_log_s_content_is_never_evaluated_as_code(server: FakeHTTPServer) -> None:
    hostile = "[(__import__('os').system('touch /tmp/pwned'), 'x')]"
    server.route("GET", f"/api/v1{LOG}", Response(200, {"content": hostile}))
    lines = client(server, api_version="v1").task_log("etl", RUN, "explode", try_number=1)
    assert lines == [hostile]


# -- marking a run ---------------------------------------------------------------------------


def test_mark_run_patches_the_state_once(server: FakeHTTPServer) -> None:
    done = {"dag_id": "etl", "dag_run_id": RUN, "state": "success"}
    server.route("PATCH", f"/api/v2/dags/etl/dagRuns/{Q_RUN}", Response(200, done))
    server.route("PATCH", f"/api/v1/dags/etl/dagRuns/{Q_RUN}", Response(200, done))
    assert client(server).mark_run("etl", RUN).state == "success"
    assert client(server, api_version="v1").mark_run("etl", RUN, "failed").state == "success"
    v2, v1 = server.requests
    assert (v2.json(), v2.query) == ({"state": "success"}, {"update_mask": ["state"]})
    # Airflow 2 refuses an update_mask here ("Extra query parameter(s)").
    assert (v1.json(), v1.query) == ({"state": "failed"}, {})


def test_mark_run_is_never_retried(server: FakeHTTPServer) -> None:
    server.route("PATCH", f"/api/v2/dags/etl/dagRuns/{Q_RUN}", Response(503, "down"))
    with pytest.raises(AirflowUnavailable):
        client(server).mark_run("etl", RUN)
    assert len(server.requests) == 1


def test_marking_an_unknown_run_is_not_found(server: FakeHTTPServer) -> None:
    server.route(
        "PATCH",
        "/api/v2/dags/etl/dagRuns/nope",
        Response(404, {"detail": "The DagRun with dag_id: `etl` and run_id: `nope` was not found"}),
    )
    with pytest.raises(AirflowNotFound, match="run_id: `nope` was not found"):
        client(server).mark_run("etl", "nope")


# -- runs that ended ---------------------------------------------------------------------------


def ended(dag_id: str, run_id: str, end: str, state: str = "failed") -> dict[str, object]:
    return {"dag_id": dag_id, "dag_run_id": run_id, "state": state, "end_date": end}


def test_ended_runs_on_v2_is_one_get_across_all_dags(server: FakeHTTPServer) -> None:
    runs = [
        ended("b", "r2", "2026-12-01T17:00:00Z"),
        ended("a", "r1", "2026-12-01T17:00:00Z"),
        ended("a", "r3", "2026-12-01T17:00:05Z", "success"),
    ]
    server.route(
        "GET", "/api/v2/dags/~/dagRuns", Response(200, {"dag_runs": runs, "total_entries": 7})
    )
    since = datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=1)))
    page = client(server).ended_runs(since=since, limit=3, offset=4)
    assert isinstance(page, RunPage) and page.total == 7
    # Runs that ended at the same instant come in a stable order.
    assert [(r.dag_id, r.run_id) for r in page.runs] == [("a", "r1"), ("b", "r2"), ("a", "r3")]
    [asked] = server.requests
    assert asked.query == {
        "end_date_gte": ["2026-12-01T18:00:00+01:00"],
        "state": ["failed", "success"],
        "order_by": ["end_date"],
        "limit": ["3"],
        "offset": ["4"],
    }


def test_ended_runs_on_v1_is_one_list_post_that_is_retried_as_a_read(
    server: FakeHTTPServer,
) -> None:
    answer = {"dag_runs": [ended("a", "r1", "2026-12-01T17:00:00+00:00")], "total_entries": 1}
    server.route(
        "POST", "/api/v1/dags/~/dagRuns/list", Response(503, "busy"), Response(200, answer)
    )
    since = datetime(2026, 12, 1, 17, 0, 0, 123456, tzinfo=UTC)
    page = client(server, api_version="v1").ended_runs(since=since, states=["failed"])
    assert [r.run_id for r in page.runs] == ["r1"] and page.total == 1
    assert len(server.requests) == 2
    assert json.loads(server.requests[-1].body) == {
        "end_date_gte": "2026-12-01T17:00:00.123456+00:00",
        "states": ["failed"],
        "order_by": "end_date",
        "page_limit": 100,
        "page_offset": 0,
    }


def test_ended_runs_since_ever_sends_no_bound_and_a_page_is_at_most_100(
    server: FakeHTTPServer,
) -> None:
    server.route("GET", "/api/v2/dags/~/dagRuns", Response(200, {"dag_runs": []}))
    server.route("POST", "/api/v1/dags/~/dagRuns/list", Response(200, {"dag_runs": []}))
    assert client(server).ended_runs(since=None, limit=1000) == RunPage(runs=(), total=0)
    client(server, api_version="v1").ended_runs(since=None, limit=0, offset=-5)
    v2, v1 = server.requests
    assert "end_date_gte" not in v2.query and v2.query["limit"] == ["100"]
    assert "end_date_gte" not in v1.json()
    assert (v1.json()["page_limit"], v1.json()["page_offset"]) == (1, 0)


def test_ended_runs_refuses_a_time_without_a_zone(server: FakeHTTPServer) -> None:
    with pytest.raises(AirflowBadRequest, match="time zone"):
        client(server).ended_runs(since=datetime(2026, 12, 1, 17, 0))
    assert server.requests == []
