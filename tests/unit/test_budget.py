"""A deployment's budget of calls in flight, shared by processes forked after it was made: every
request to the deployment's server counts, counted at a local server."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import pytest

from bot.airflow import dyno
from bot.airflow.budget import LocalBudget, SharedBudget, budget_for
from bot.airflow.clients import client_for
from bot.config import Deployment
from testkit.airflow_client import SECRET, make_jwt
from testkit.fake_http import FakeHTTPServer, Response
from testkit.two_workers import second_worker_while_the_first_fills_the_budget

fork = multiprocessing.get_context("fork")


@pytest.fixture
def budget(tmp_path: Path) -> Iterator[SharedBudget]:
    yield SharedBudget(3, directory=tmp_path, name="prod")


def _hold_calls(
    budget: SharedBudget,
    calls: int,
    now: Synchronized[int],
    peak: Synchronized[int],
) -> None:
    """In a forked process: ``calls`` calls from 4 threads, each holding a permit 20 ms."""

    def call() -> None:
        with budget:
            with now.get_lock():
                now.value += 1
                peak.value = max(peak.value, now.value)
            time.sleep(0.02)
            with now.get_lock():
                now.value -= 1

    def calls_in_turn() -> None:
        for _ in range(calls // 4):
            call()

    threads = [threading.Thread(target=calls_in_turn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_processes_forked_after_it_was_made_share_one_budget(budget: SharedBudget) -> None:
    now, peak = fork.Value("i", 0), fork.Value("i", 0)
    children = [fork.Process(target=_hold_calls, args=(budget, 20, now, peak)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert peak.value == 3  # 12 threads in 3 processes: never more than the 3 permits, all used


def _take_all_and_wait(budget: SharedBudget, held: threading.Event) -> None:
    for _ in range(budget.size):
        budget.__enter__()
    held.set()
    time.sleep(60)


def test_a_process_killed_holding_permits_gives_them_back_at_once(budget: SharedBudget) -> None:
    held = fork.Event()
    child = fork.Process(target=_take_all_and_wait, args=(budget, held))
    child.start()
    assert held.wait(10)
    taken = threading.Event()

    def take_all() -> None:
        for _ in range(budget.size):
            budget.__enter__()
        taken.set()

    threading.Thread(target=take_all, daemon=True).start()
    assert not taken.wait(0.3), "a permit was given twice"
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)  # as gunicorn kills a worker past its timeout
    child.join(10)
    killed_at = time.monotonic()
    assert taken.wait(5)
    assert time.monotonic() - killed_at < 1.0
    assert budget.held_here() == budget.size


def _hold_one_for(budget: SharedBudget, seconds: float, held: threading.Event) -> None:
    with budget:
        held.set()
        time.sleep(seconds)


def test_a_permit_given_back_by_another_process_is_taken_by_a_waiting_one(tmp_path: Path) -> None:
    budget = SharedBudget(1, directory=tmp_path, name="one")
    held = fork.Event()
    child = fork.Process(target=_hold_one_for, args=(budget, 0.3, held))
    child.start()
    assert held.wait(10)
    started = time.monotonic()
    with budget:
        waited = time.monotonic() - started
    child.join(10)
    assert 0.1 < waited < 1.0


def _report_wait(budget: SharedBudget, waited: Synchronized[float]) -> None:
    started = time.monotonic()
    with budget:
        waited.value = time.monotonic() - started


def test_a_child_forked_while_a_permit_is_held_does_not_share_it(tmp_path: Path) -> None:
    budget = SharedBudget(1, directory=tmp_path, name="one")
    waited = fork.Value("d", -1.0)
    with budget:
        child = fork.Process(target=_report_wait, args=(budget, waited))
        child.start()
        time.sleep(0.3)
    child.join(10)
    assert waited.value >= 0.2


def test_one_process_needs_no_files() -> None:
    assert isinstance(budget_for("prod", 16, processes=1), LocalBudget)


def test_a_deployment_name_is_never_a_path(tmp_path: Path) -> None:
    budget = budget_for("../../etc/x y", 2, processes=2)
    assert isinstance(budget, SharedBudget)
    with budget:
        pass
    assert all(p.parent == dyno.directory() for p in budget._paths)


def _make_directory_and_die(made: Queue[str]) -> None:
    made.put(str(dyno.directory()))
    made.close()
    made.join_thread()
    os._exit(0)  # as if killed outright: no atexit, so the directory stays


def test_the_directory_of_bots_killed_outright_is_removed_by_the_next_one() -> None:
    spawn = multiprocessing.get_context("spawn")  # a fresh process: no directory made yet
    made: Queue[str] = spawn.Queue()
    child = spawn.Process(target=_make_directory_and_die, args=(made,))
    child.start()
    abandoned = Path(made.get(timeout=30))
    child.join(10)
    assert abandoned.is_dir()
    dyno._remove_abandoned()
    assert not abandoned.exists()
    assert dyno.directory().is_dir()  # this process's own, in use, is kept
    dyno._remove_abandoned()
    assert dyno.directory().is_dir()


# -- every request to the deployment's server counts, sign-ins and version checks included -----


@pytest.mark.parametrize("api_version", ["v2", "auto"], ids=["sign-in", "version-check"])
def test_a_second_process_signing_in_waits_for_a_permit_like_any_call(
    server: FakeHTTPServer, api_version: str
) -> None:
    # The second process's first request is its sign-in at Airflow 3's /auth/token (with the
    # version forced), or its version check: each must wait for a permit like a call.
    server.route("GET", "/api/v2/version", Response(200, {"version": "3.3.2"}))
    server.route(
        "POST", "/auth/token", Response(201, {"access_token": make_jwt(time.time() + 3600)})
    )
    dep = Deployment(
        name="prod",
        url=server.url,
        username="admin",
        password=SECRET,
        api_version=api_version,
        max_in_flight=2,
    )
    client = client_for(dep, processes=2)  # as the bot makes it, before gunicorn forks
    early = second_worker_while_the_first_fills_the_budget(client, server, api="/api/v2", budget=2)
    sent = [f"{r.method} {r.path}" for r in early]
    assert server.peak == 2, f"{server.peak} at once at Airflow: {sent} sent without a permit"
    assert len(server.requests_to("POST", "/auth/token")) == 2  # each process signed in
