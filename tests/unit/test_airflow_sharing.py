"""Identical reads in flight are sent once (bot/airflow/sharing.py), against a scripted server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.airflow import AirflowClient, AirflowNotFound, AirflowUnavailable
from testkit.fake_http import FakeHTTPServer, InFlight, Request, Response

TOKEN = "sharing-token-0123456789"
DAG = {"dag_id": "etl", "is_paused": False}
DAGS = {"dags": [DAG], "total_entries": 1}
RUNS = {"dag_runs": [], "total_entries": 0}


def client(server: FakeHTTPServer, **kwargs: Any) -> AirflowClient:
    options: dict[str, Any] = {"token": TOKEN, "api_version": "v2", "backoff": 0.01}
    return AirflowClient(base_url=server.url, name="prod", **{**options, **kwargs})


def slow(answer: Response, seconds: float = 0.3) -> InFlight:
    return InFlight(answer, hold=lambda: time.sleep(seconds))


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls together; each one's result, or the exception it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_identical_reads_at_once_reach_airflow_once(server: FakeHTTPServer) -> None:
    held = slow(Response(200, DAGS))
    server.route("GET", "/api/v2/dags", held)
    c = client(server)
    pages = at_once([c.list_dags] * 10)
    assert len(server.requests_to("GET", "/api/v2/dags")) == 1
    assert all(page.dags[0].dag_id == "etl" for page in pages)


def test_each_caller_gets_its_own_copy_of_the_answer(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", slow(Response(200, DAG)))
    c = client(server)
    bodies = at_once([lambda: c.call("GET", "/dags/etl")] * 2)
    assert len(server.requests) == 1
    bodies[0]["dag_id"] = "changed by one caller"
    assert bodies[1]["dag_id"] == "etl"


def test_the_listing_post_marked_as_a_read_is_shared(server: FakeHTTPServer) -> None:
    server.route("POST", "/api/v2/dags/~/dagRuns/list", slow(Response(200, RUNS)))
    c = client(server)
    at_once([lambda: c.latest_runs(["etl", "hr"])] * 5 + [lambda: c.latest_runs(["hr"])] * 5)
    bodies = sorted(str(r.json()["dag_ids"]) for r in server.requests)
    assert bodies == ["['etl', 'hr']", "['hr']"]


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("PATCH", "/api/v2/dags/etl", lambda c: c.set_paused("etl", True)),
        ("POST", "/api/v2/dags/etl/clearTaskInstances", lambda c: c.clear_failed("etl", "r1")),
        ("POST", "/api/v2/dags/etl/dagRuns", lambda c: c.trigger("etl", run_id="r1")),
    ],
)
def test_writes_are_never_shared(
    server: FakeHTTPServer, method: str, path: str, call: Callable[[AirflowClient], Any]
) -> None:
    body = {"dag_id": "etl", "dag_run_id": "r1", "state": "queued", "task_instances": []}
    server.route(method, path, slow(Response(200, body)))
    c = client(server)
    at_once([lambda: call(c)] * 4)
    assert len(server.requests_to(method, path)) == 4


def test_reads_that_differ_in_anything_are_sent_each(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags", slow(Response(200, DAGS)))
    c = client(server)
    other_credential = client(server, token="another-token-0123456789")
    other_deployment = AirflowClient(base_url=server.url, name="dev", token=TOKEN, api_version="v2")
    at_once(
        [
            c.list_dags,
            lambda: c.list_dags(pattern="etl"),
            lambda: c.list_dags(offset=20),
            other_credential.list_dags,
            other_deployment.list_dags,
        ]
    )
    assert len(server.requests) == 5
    tokens = {r.headers["Authorization"] for r in server.requests}
    assert tokens == {f"Bearer {TOKEN}", "Bearer another-token-0123456789"}


def test_the_order_of_query_parameters_does_not_matter(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags", slow(Response(200, DAGS)))
    c = client(server)
    at_once(
        [
            lambda: c.call("GET", "/dags", params={"limit": 1, "offset": 0}),
            lambda: c.call("GET", "/dags", params={"offset": 0, "limit": 1}),
        ]
    )
    assert len(server.requests) == 1


def test_nothing_is_kept_once_the_call_is_over(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags", Response(200, DAGS))
    c = client(server)
    c.list_dags()
    c.list_dags()
    assert len(server.requests) == 2
    assert c.reads.in_flight() == 0


def test_a_failed_read_fails_every_caller_with_the_same_error_once_retried(
    server: FakeHTTPServer,
) -> None:
    server.route("GET", "/api/v2/dags", slow(Response(503, {"detail": "database is down"}), 0.2))
    c = client(server)
    errors = at_once([c.list_dags] * 6)
    assert len(server.requests) == 3  # one call, retried twice, for all six
    assert all(isinstance(e, AirflowUnavailable) for e in errors)
    assert {(e.message, e.status, e.deployment) for e in errors} == {
        ("database is down", 503, "prod")
    }
    assert len({id(e) for e in errors}) == 6  # each its own: one's changes stay its own


def test_what_one_caller_adds_to_its_error_stays_its_own(server: FakeHTTPServer) -> None:
    gate = threading.Event()

    def not_found(req: Request) -> Response:
        gate.wait(5)
        return Response(404, {"detail": "The Dag with ID: `etl` was not found"})

    server.route("GET", "/api/v2/dags/etl", not_found)
    c = client(server)
    errors: list[AirflowNotFound] = []

    def ask(suggest: tuple[str, ...]) -> None:
        try:
            c.get_dag("etl")
        except AirflowNotFound as exc:
            exc.suggestions = suggest  # as a lookup does, from the asker's own grants
            time.sleep(0.05)
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=((f"dag_{i}",),)) for i in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(server.requests) == 1
    assert sorted(e.suggestions for e in errors) == [(f"dag_{i}",) for i in range(5)]
