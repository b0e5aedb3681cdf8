"""The client's operations on runs, tasks and DAGs against a scripted Airflow: what it asks
Airflow (counted, with their query and body), what it makes of the answers, and how often it
asks again when a call fails.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from bot.airflow import (
    AirflowBadRequest,
    AirflowClient,
    AirflowConflict,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from testkit.airflow_client import SECRET, V2_RUN, client, make_jwt
from testkit.fake_http import FakeHTTPServer, InFlight, Response, hang_up

RUNS = "/api/v2/dags/etl/dagRuns"


def run(dag_id: str, run_id: str, state: str = "success") -> dict[str, object]:
    return {"dag_id": dag_id, "dag_run_id": run_id, "state": state}


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v3", "2", ""])
def test_an_unknown_api_version_is_refused_at_once(version: str) -> None:
    with pytest.raises(ValueError, match="api_version must be auto, v1 or v2"):
        AirflowClient(base_url="http://127.0.0.1:1", token=SECRET, api_version=version)


@pytest.mark.parametrize(
    "credentials", [{}, {"username": "admin"}, {"password": SECRET}, {"token": None}]
)
def test_a_client_without_credentials_is_refused(credentials: dict[str, str | None]) -> None:
    with pytest.raises(ValueError, match="give a token, or a username and a password"):
        AirflowClient(base_url="http://127.0.0.1:1", **credentials)  # type: ignore[arg-type]


def test_a_server_without_either_api_is_unavailable_as_a_404(server: FakeHTTPServer) -> None:
    with pytest.raises(AirflowUnavailable, match="neither /api/v2 nor /api/v1") as err:
        client(server, api_version="auto").list_dags()
    assert (err.value.status, err.value.deployment) == (404, "prod")


@pytest.mark.parametrize("status", [401, 403, 405])
def test_any_answer_but_404_from_api_v2_means_airflow_3(
    server: FakeHTTPServer, status: int
) -> None:
    server.route("GET", "/api/v2/version", Response(status, {"detail": "guarded"}))
    assert client(server, api_version="auto").api_version == "v2"
    assert [r.path for r in server.requests] == ["/api/v2/version"]


def test_version_detection_on_a_dropped_connection_is_unavailable(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/version", hang_up)
    with pytest.raises(AirflowUnavailable, match="could not reach Airflow"):
        client(server, api_version="auto").list_dags()
    assert len(server.requests) == 1


def test_by_default_a_read_is_tried_three_times(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(500, "boom"))
    with pytest.raises(AirflowUnavailable):
        AirflowClient(base_url=server.url, token=SECRET, api_version="v2", backoff=0.01).get_dag(
            "etl"
        )
    assert len(server.requests) == 3


def test_by_default_a_retry_after_above_5_seconds_is_not_waited(server: FakeHTTPServer) -> None:
    server.route(
        "GET", "/api/v2/dags/etl", Response(429, {"detail": "quota"}, {"Retry-After": "6"})
    )
    started = time.monotonic()
    with pytest.raises(AirflowRateLimited) as err:
        AirflowClient(base_url=server.url, token=SECRET, api_version="v2").get_dag("etl")
    assert err.value.retry_after == 6
    assert time.monotonic() - started < 5  # not the 6 s asked for
    assert len(server.requests) == 1


# -- runs -----------------------------------------------------------------------------------


def test_list_runs_asks_for_the_newest_runs_of_each_version(server: FakeHTTPServer) -> None:
    server.route("GET", RUNS, Response(200, {"dag_runs": [V2_RUN, run("etl", "r0")]}))
    server.route("GET", "/api/v1/dags/etl/dagRuns", Response(200, {"dag_runs": [V2_RUN]}))
    runs = client(server).list_runs("etl", limit=3)
    assert [r.run_id for r in runs] == [V2_RUN["dag_run_id"], "r0"]
    assert runs[0].state == "queued"
    assert client(server, api_version="v1").list_runs("etl", limit=500)[0].dag_id == "etl"
    v2, v1 = server.requests
    assert v2.query == {"limit": ["3"], "order_by": ["-run_after"]}
    assert v1.query == {"limit": ["100"], "order_by": ["-execution_date"]}
    client(server).list_runs("etl", limit=0)
    assert server.requests[-1].query["limit"] == ["1"]
    client(server).list_runs("etl")  # the last 5 by default
    assert server.requests[-1].query["limit"] == ["5"]


def test_list_runs_of_an_unknown_dag_is_not_found_on_both_versions(
    server: FakeHTTPServer,
) -> None:
    # Airflow 2 answers an unknown DAG's runs with an empty list: the client asks for the DAG.
    server.route("GET", "/api/v1/dags/nope/dagRuns", Response(200, {"dag_runs": []}))
    server.route("GET", "/api/v1/dags/nope", Response(404, {"detail": "DAG not found"}))
    with pytest.raises(AirflowNotFound):
        client(server, api_version="v1").list_runs("nope")
    server.route("GET", "/api/v2/dags/nope/dagRuns", Response(404, {"detail": "DAG not found"}))
    with pytest.raises(AirflowNotFound):
        client(server).list_runs("nope")
    # A known DAG with no runs yet is an empty list, asked once on v2.
    server.route("GET", RUNS, Response(200, {"dag_runs": [], "total_entries": 0}))
    assert client(server).list_runs("etl") == []
    assert len(server.requests_to("GET", RUNS)) == 1
    assert server.requests_to("GET", "/api/v2/dags/etl") == []


def test_latest_runs_takes_each_dags_newest_in_one_call(server: FakeHTTPServer) -> None:
    answer = {
        "dag_runs": [
            run("etl", "new", "running"),
            run("ml", "ml-new", "failed"),
            run("etl", "old", "success"),
        ]
    }
    server.route("POST", "/api/v2/dags/~/dagRuns/list", Response(200, answer))
    server.route("POST", "/api/v1/dags/~/dagRuns/list", Response(200, answer))
    latest = client(server).latest_runs(["etl", "ml", "idle"])
    assert {dag: r.run_id for dag, r in latest.items()} == {"etl": "new", "ml": "ml-new"}
    assert latest["etl"].state == "running"
    client(server, api_version="v1").latest_runs(["etl"])
    v2, v1 = server.requests
    assert v2.json() == {
        "dag_ids": ["etl", "ml", "idle"],
        "page_limit": 100,
        "order_by": "-run_after",
    }
    assert v1.json()["order_by"] == "-execution_date"


def test_latest_runs_of_no_dags_asks_nothing(server: FakeHTTPServer) -> None:
    assert client(server).latest_runs([]) == {}
    assert server.requests == []


def test_latest_runs_is_a_read_and_retried(server: FakeHTTPServer) -> None:
    server.route(
        "POST",
        "/api/v2/dags/~/dagRuns/list",
        Response(503, {"detail": "busy"}),
        Response(200, {"dag_runs": [run("etl", "r1")]}),
    )
    assert client(server).latest_runs(["etl"])["etl"].run_id == "r1"
    assert len(server.requests) == 2


def test_get_run_escapes_the_run_id(server: FakeHTTPServer) -> None:
    # '+' and ':' in a run id must reach Airflow as themselves, not as a space or a separator.
    encoded = "manual__2022-11-16T11%3A34%3A00%2B00%3A00"
    server.route("GET", f"{RUNS}/{encoded}", Response(200, V2_RUN))
    run = client(server).get_run("etl", "manual__2022-11-16T11:34:00+00:00")
    assert run.run_id == "manual__2022-11-16T11:34:00+00:00"
    assert run.state == "queued"


def test_failed_tasks_are_the_failed_and_upstream_failed_ids_in_order(
    server: FakeHTTPServer,
) -> None:
    server.route(
        "GET",
        f"{RUNS}/r1/taskInstances",
        Response(
            200,
            {
                "task_instances": [
                    {"task_id": "load", "state": "upstream_failed"},
                    {"task_id": "extract", "state": "failed"},
                    {"task_id": "load", "state": "upstream_failed", "map_index": 1},
                ]
            },
        ),
    )
    assert client(server).failed_tasks("etl", "r1") == ["extract", "load"]
    assert server.requests[0].query == {"state": ["failed", "upstream_failed"], "limit": ["100"]}


def test_clear_failed_is_sent_once_and_returns_the_cleared_tasks(server: FakeHTTPServer) -> None:
    server.route(
        "POST",
        "/api/v2/dags/etl/clearTaskInstances",
        Response(200, {"task_instances": [{"task_id": "b"}, {"task_id": "a"}, {"task_id": "b"}]}),
    )
    assert client(server).clear_failed("etl", "r1") == ["a", "b"]
    assert server.requests[0].json() == {
        "dag_run_id": "r1",
        "only_failed": True,
        "dry_run": False,
        "reset_dag_runs": True,
    }
    server.route("POST", "/api/v2/dags/etl/clearTaskInstances", Response(503, {"detail": "busy"}))
    with pytest.raises(AirflowUnavailable):
        client(server).clear_failed("etl", "r1")
    assert len(server.requests) == 2


def test_trigger_sends_the_run_id_and_logical_date_it_is_given(server: FakeHTTPServer) -> None:
    server.route("POST", RUNS, Response(200, V2_RUN))
    client(server).trigger(
        "etl", run_id="my-run", logical_date=datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    )
    assert server.requests[0].json() == {
        "conf": {},
        "logical_date": "2022-11-16T11:34:00+00:00",
        "dag_run_id": "my-run",
    }


def test_a_run_that_already_exists_is_a_conflict(server: FakeHTTPServer) -> None:
    server.route("POST", RUNS, Response(409, {"detail": "DAG Run already exists"}))
    with pytest.raises(AirflowConflict) as err:
        client(server).trigger("etl", run_id="dup")
    assert err.value.status == 409


# -- following a run ------------------------------------------------------------------------


def stream(*states: str) -> Response:
    lines = "".join(json.dumps({"state": s}) + "\n\n" for s in states)
    return Response(200, lines, {"Content-Type": "application/x-ndjson"})


def test_wait_run_yields_each_state_airflow_streams(server: FakeHTTPServer) -> None:
    server.route("GET", f"{RUNS}/r1/wait", stream("queued", "running", "success"))
    states = list(client(server).wait_run("etl", "r1", seconds=30, interval=2))
    assert states == ["queued", "running", "success"]
    (req,) = server.requests
    assert req.query == {"interval": ["2"]}
    assert req.headers["Accept"] == "application/x-ndjson"
    assert req.headers["Authorization"] == f"Bearer {SECRET}"


def test_wait_run_stops_at_its_deadline(server: FakeHTTPServer) -> None:
    server.route("GET", f"{RUNS}/r1/wait", stream("queued", "running", "success"))
    assert list(client(server).wait_run("etl", "r1", seconds=0)) == ["queued"]
    assert server.requests[0].query == {"interval": ["1.0"]}  # a line a second by default


def test_wait_run_skips_lines_without_a_state(server: FakeHTTPServer) -> None:
    body = '{"state": "queued"}\n{"note": 1}\n{"state": null}\n{"state": "success"}\n'
    server.route("GET", f"{RUNS}/r1/wait", Response(200, body))
    assert list(client(server).wait_run("etl", "r1", seconds=30)) == ["queued", "success"]


def test_wait_run_errors_are_typed(server: FakeHTTPServer) -> None:
    server.route("GET", f"{RUNS}/bad/wait", Response(400, {"detail": "bad interval"}))
    with pytest.raises(AirflowBadRequest, match="bad interval"):
        list(client(server).wait_run("etl", "bad", seconds=30))
    server.route("GET", f"{RUNS}/gone/wait", Response(404, {"detail": "DagRun not found"}))
    with pytest.raises(AirflowNotFound):
        list(client(server).wait_run("etl", "gone", seconds=30))
    server.route("GET", f"{RUNS}/r1/wait", Response(200, '{"state": "queued"}\nnot json\n'))
    with pytest.raises(AirflowUnavailable, match="stream broke"):
        list(client(server).wait_run("etl", "r1", seconds=30))
    server.route("GET", f"{RUNS}/r2/wait", hang_up)
    with pytest.raises(AirflowUnavailable, match="waiting on the run"):
        list(client(server).wait_run("etl", "r2", seconds=30))


def test_wait_run_after_a_401_renews_the_jwt_for_the_next_call(server: FakeHTTPServer) -> None:
    first, second = make_jwt(time.time() + 3600), make_jwt(time.time() + 7200)
    server.route(
        "POST",
        "/auth/token",
        Response(201, {"access_token": first}),
        Response(201, {"access_token": second}),
    )
    server.route("GET", f"{RUNS}/r1/wait", Response(401, {"detail": "expired"}), stream("success"))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed):
        list(c.wait_run("etl", "r1", seconds=30))
    assert list(c.wait_run("etl", "r1", seconds=30)) == ["success"]
    waits = server.requests_to("GET", f"{RUNS}/r1/wait")
    assert [w.headers["Authorization"] for w in waits] == [f"Bearer {first}", f"Bearer {second}"]


@pytest.mark.parametrize(
    ("version", "can"), [("3.1.0", True), ("3.2.1", True), ("3.0.6", False), ("2.11.2", False)]
)
def test_can_wait_from_airflow_3_1(server: FakeHTTPServer, version: str, can: bool) -> None:
    server.route("GET", "/api/v2/version", Response(200, {"version": version}))
    c = client(server)
    assert c.can_wait() is can
    assert c.can_wait() is can
    assert len(server.requests) == 1  # asked once


def test_can_wait_never_on_airflow_2_and_asks_again_after_an_error(
    server: FakeHTTPServer,
) -> None:
    assert client(server, api_version="v1").can_wait() is False
    assert server.requests == []
    server.route(
        "GET",
        "/api/v2/version",
        Response(500, "down"),
        Response(500, "down"),
        Response(500, "down"),
        Response(200, {"version": "3.1.0"}),
    )
    c = client(server)
    assert c.can_wait() is False
    assert c.can_wait() is True


def test_version_is_what_airflow_reports(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/version", Response(200, {"version": "3.1.2"}), Response(200, {}))
    assert client(server).version() == "3.1.2"
    assert client(server).version() == "unknown"


# -- DAGs -----------------------------------------------------------------------------------


def test_pausing_sends_only_the_paused_flag(server: FakeHTTPServer) -> None:
    server.route("PATCH", "/api/v2/dags/etl", Response(200, {"dag_id": "etl", "is_paused": True}))
    assert client(server).set_paused("etl", True).is_paused
    assert server.requests[0].query == {"update_mask": ["is_paused"]}
    assert server.requests[0].json() == {"is_paused": True}


def test_list_dags_keeps_the_page_within_airflows_limits(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags", Response(200, {"dags": [{"dag_id": "a"}]}))
    page = client(server).list_dags(limit=500, offset=-5)
    assert server.requests[0].query == {"limit": ["100"], "offset": ["0"], "order_by": ["dag_id"]}
    assert page.total == 1  # no total_entries: the page's own count
    client(server).list_dags(limit=0, pattern="")
    assert server.requests[1].query["limit"] == ["1"]
    assert "dag_id_pattern" not in server.requests[1].query
    client(server).list_dags()  # the first page of 20
    assert server.requests[2].query == {"limit": ["20"], "offset": ["0"], "order_by": ["dag_id"]}


def test_dag_links_fit_each_version(server: FakeHTTPServer) -> None:
    assert client(server).dag_url("a b") == f"{server.url}/dags/a%20b"
    assert client(server, api_version="v1").dag_url("etl") == f"{server.url}/dags/etl/grid"


# -- answers and faults -----------------------------------------------------------------------


def test_answers_that_are_not_a_json_object(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(200, "<html>login page</html>"))
    with pytest.raises(AirflowUnavailable, match="not JSON") as err:
        client(server).get_dag("etl")
    assert err.value.status == 200
    server.route("PATCH", "/api/v2/dags/etl", Response(200, None))
    assert client(server).set_paused("etl", False).dag_id == ""  # an empty answer is no error
    server.route("GET", "/api/v2/dags", Response(200, [{"dag_id": "x"}]))
    assert client(server).list_dags().dags == ()


def test_a_read_whose_connection_drops_is_retried_a_bounded_number_of_times(
    server: FakeHTTPServer,
) -> None:
    server.route("GET", "/api/v2/dags/etl", hang_up)
    with pytest.raises(
        AirflowUnavailable, match=r"could not reach Airflow at .* \(ConnectionError\)"
    ):
        client(server, read_retries=2).get_dag("etl")
    assert len(server.requests) == 3
    server.route("GET", "/api/v2/dags/ml", hang_up, Response(200, {"dag_id": "ml"}))
    assert client(server, read_retries=1).get_dag("ml").dag_id == "ml"
    assert len(server.requests_to("GET", "/api/v2/dags/ml")) == 2


def test_reads_pause_between_attempts(server: FakeHTTPServer) -> None:
    # Sending again at once would only add to an overloaded Airflow's queue.
    server.route("GET", "/api/v2/dags/etl", Response(503, "busy"))
    started = time.monotonic()
    with pytest.raises(AirflowUnavailable):
        client(server, backoff=0.1, read_retries=2).get_dag("etl")
    assert time.monotonic() - started >= 0.1 + 0.2  # doubling each time
    server.route("GET", "/api/v2/dags/ml", hang_up)
    started = time.monotonic()
    with pytest.raises(AirflowUnavailable):
        client(server, backoff=0.1, read_retries=2).get_dag("ml")
    assert time.monotonic() - started >= 0.1 * 2


def test_a_write_whose_connection_drops_is_not_resent(server: FakeHTTPServer) -> None:
    server.route("POST", RUNS, hang_up)
    with pytest.raises(AirflowUnavailable, match="could not reach Airflow"):
        client(server).trigger("etl")
    server.route("PATCH", "/api/v2/dags/etl", hang_up)
    with pytest.raises(AirflowUnavailable):
        client(server).set_paused("etl", True)
    assert len(server.requests) == 2


def test_a_429_without_retry_after_is_retried_with_backoff(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        "/api/v2/dags/etl",
        Response(429, {"detail": "slow"}),
        Response(200, {"dag_id": "etl"}),
    )
    assert client(server).get_dag("etl").dag_id == "etl"
    assert len(server.requests) == 2


def test_a_redirect_loop_is_unavailable(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(302, "", {"Location": "/api/v2/dags/etl"}))
    with pytest.raises(AirflowUnavailable, match="TooManyRedirects"):
        client(server).get_dag("etl")


def test_an_unknown_host_is_named() -> None:
    try:
        socket.getaddrinfo("airflow.invalid", 80)
    except socket.gaierror as exc:
        if exc.errno != socket.EAI_NONAME:
            pytest.skip(f"this machine's resolver cannot answer: {exc}")
    c = AirflowClient(base_url="http://airflow.invalid", token=SECRET, api_version="v2")
    with pytest.raises(AirflowUnavailable, match="host name not found"):
        c.get_dag("etl")


@pytest.mark.parametrize("cap", [1, 0])
def test_max_in_flight_1_sends_one_call_at_a_time(server: FakeHTTPServer, cap: int) -> None:
    calls = InFlight(Response(200, {"dags": [], "total_entries": 0}), hold=lambda: time.sleep(0.05))
    server.route("GET", "/api/v2/dags", calls)
    capped = client(server, max_in_flight=cap)  # 0 is taken as 1, never as "no calls at all"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: capped.list_dags(offset=i), range(4)))  # distinct: not shared
    assert calls.peak == 1
    assert len(server.requests) == 4


def test_by_default_16_calls_at_most_reach_one_deployment(server: FakeHTTPServer) -> None:
    release = threading.Event()
    held = InFlight(Response(200, {"dags": [], "total_entries": 0}), hold=lambda: release.wait(10))
    server.route("GET", "/api/v2/dags", held)
    default = AirflowClient(base_url=server.url, token=SECRET, api_version="v2")
    with ThreadPoolExecutor(20) as pool:
        calls = [pool.submit(default.list_dags, offset=i) for i in range(20)]  # distinct reads
        # Hold every call Airflow receives until 16 are in, and a moment more for any 17th.
        deadline = time.monotonic() + 10
        while held.peak < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        in_flight_at_most = held.peak
        release.set()
        for call in calls:
            call.result()
    assert in_flight_at_most == 16
    assert len(server.requests) == 20
