"""Identical reads in flight shared between forked processes (bot/airflow/dyno_reads.py), as
gunicorn's workers are forked from the master that built the clients."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.airflow import (
    AirflowClient,
    AirflowError,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from bot.airflow.dyno_reads import DynoReads
from bot.airflow.sharing import SharedReads
from testkit.fake_http import FakeHTTPServer, Request, Response

fork = multiprocessing.get_context("fork")
DAGS = {"dags": [{"dag_id": "etl", "is_paused": False}], "total_entries": 1}


def dyno_client(server: FakeHTTPServer, tmp_path: Path) -> AirflowClient:
    """A client as clients_for builds it in gunicorn's master, for processes forked after."""
    return AirflowClient(
        base_url=server.url,
        name="prod",
        token="dyno-token-0123456789",
        api_version="v2",
        backoff=0.01,
        reads=SharedReads(DynoReads(tmp_path / "prod.reads")),
    )


def _ask(client: AirflowClient, start: Barrier, out: Queue[Any]) -> None:
    start.wait(10)
    try:
        out.put([d.dag_id for d in client.list_dags().dags])
    except AirflowUnavailable as exc:
        out.put(("failed", type(exc).__name__, exc.message, exc.status, exc.deployment))


def in_processes(client: AirflowClient, count: int) -> list[Any]:
    """``client.list_dags()`` in ``count`` forked processes at once; what each one got."""
    start, out = fork.Barrier(count), fork.Queue()
    children = [fork.Process(target=_ask, args=(client, start, out)) for _ in range(count)]
    for child in children:
        child.start()
    got = [out.get(timeout=20) for _ in children]
    for child in children:
        child.join(10)
    return got


def test_processes_asking_the_same_at_once_send_it_once(
    server: FakeHTTPServer, tmp_path: Path
) -> None:
    server.route("GET", "/api/v2/dags", Response(200, DAGS, delay=0.5))
    got = in_processes(dyno_client(server, tmp_path), 3)
    assert got == [["etl"]] * 3
    assert len(server.requests) == 1


def test_a_failure_reaches_every_process_with_the_same_words(
    server: FakeHTTPServer, tmp_path: Path
) -> None:
    server.route("GET", "/api/v2/dags", Response(503, {"detail": "database is down"}, delay=0.3))
    got = in_processes(dyno_client(server, tmp_path), 3)
    assert got == [("failed", "AirflowUnavailable", "database is down", 503, "prod")] * 3
    assert len(server.requests) == 3  # one read, retried twice by its leader, for all


def test_nothing_is_kept_once_the_flight_is_over(server: FakeHTTPServer, tmp_path: Path) -> None:
    server.route("GET", "/api/v2/dags", Response(200, DAGS))
    client = dyno_client(server, tmp_path)
    in_processes(client, 1)
    in_processes(client, 1)
    assert len(server.requests) == 2
    assert not [p for p in (tmp_path / "prod.reads").iterdir() if not p.name.endswith(".answer")]


def _lead_then_hang(client: AirflowClient) -> None:
    client.list_dags()


def test_when_the_leading_process_dies_another_sends_the_read_itself(
    server: FakeHTTPServer, tmp_path: Path
) -> None:
    first_in, release = threading.Event(), threading.Event()

    def answer(req: Request) -> Response:
        if not first_in.is_set():
            first_in.set()
            release.wait(10)  # the leader's call hangs, until it is killed
        return Response(200, DAGS)

    server.route("GET", "/api/v2/dags", answer)
    client = dyno_client(server, tmp_path)
    leader = fork.Process(target=_lead_then_hang, args=(client,))
    leader.start()
    assert first_in.wait(10)
    follower_out: Queue[Any] = fork.Queue()
    follower = fork.Process(target=_ask, args=(client, fork.Barrier(1), follower_out))
    follower.start()
    time.sleep(0.3)  # joined the leader's flight, waiting for it
    assert follower_out.empty()
    assert leader.pid is not None
    os.kill(leader.pid, signal.SIGKILL)
    leader.join(10)
    try:
        assert follower_out.get(timeout=10) == ["etl"]
    finally:
        release.set()
        follower.join(10)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "error",
    [
        AirflowNotFound("The Dag with ID: `etl` was not found", status=404, deployment="prod"),
        AirflowRateLimited("slow down", retry_after=30.0, deployment="prod"),
    ],
    ids=type,
)
def test_an_error_crosses_as_its_kind_with_its_fields(tmp_path: Path, error: AirflowError) -> None:
    reads = DynoReads(tmp_path)

    def fail() -> requests.Response:
        raise error

    with pytest.raises(type(error)):
        reads.share(("GET", "/dags/etl", "null", "null"), fail)
    (answer,) = [p for p in tmp_path.iterdir() if p.name.endswith(".answer")]
    with pytest.raises(type(error)) as crossed:
        reads._answer(answer.name.removesuffix(".answer"))  # as another process reads it
    assert vars(crossed.value) == vars(error)
