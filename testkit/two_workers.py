"""Two processes forked from the one that made a deployment's client, as gunicorn forks its
workers from the preloaded app: the first fills the deployment's budget (``max_in_flight``)
with calls Airflow holds, then the second starts. Whatever the second sends before they are let
go (a sign-in, a version check) went without a permit; the server's ``peak`` says how many
requests were at it at once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.airflow import AirflowClient
from testkit.fake_http import FakeHTTPServer, InFlight, Request, Response

fork = multiprocessing.get_context("fork")
# Long enough for the second worker's first request to reach the server, were it let go.
SETTLE_SECONDS = 0.5


def second_worker_while_the_first_fills_the_budget(
    client: AirflowClient,
    airflow: FakeHTTPServer,
    *,
    api: str,
    budget: int,
    front: FakeHTTPServer | None = None,
) -> list[Request]:
    """What the second worker sent to ``front`` (the deployment's server: ``airflow``, or a
    gateway before it) while the first held every permit. Both workers end successfully."""
    front = front or airflow
    release = threading.Event()
    # A run in each answer: with none, Airflow 2's client would go on to ask for the DAG.
    run = {"dag_id": "dag", "dag_run_id": "scheduled__1", "state": "success"}
    answer = Response(200, {"dag_runs": [run], "total_entries": 1})
    held = InFlight(answer, lambda: release.wait(10))
    dag_ids = [f"dag_{i}" for i in range(budget + 1)]
    for dag_id in dag_ids:
        airflow.route("GET", f"{api}/dags/{dag_id}/dagRuns", held)
    first = fork.Process(target=_ask_runs, args=(client, dag_ids[:budget]))
    second = fork.Process(target=_ask_runs, args=(client, dag_ids[budget:]))
    try:
        first.start()
        _until(lambda: held.peak == budget)  # every permit is held, at Airflow
        before = len(front.requests)
        second.start()
        time.sleep(SETTLE_SECONDS)
        early = front.requests[before:]
    finally:
        release.set()
    for worker in (first, second):
        worker.join(30)
        assert worker.exitcode == 0
    return early


def _ask_runs(client: AirflowClient, dag_ids: list[str]) -> None:
    """In a worker: each DAG's runs at once, a thread each, as a burst of ``status`` asks."""
    with ThreadPoolExecutor(len(dag_ids)) as pool:
        for runs in pool.map(client.list_runs, dag_ids):
            assert len(runs) == 1


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
