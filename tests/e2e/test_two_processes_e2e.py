"""Two gunicorn processes, end to end: one budget of Airflow calls per deployment for both, and
the reads they have in flight shared between them. The bot as the Procfile runs it with
``WEB_CONCURRENCY=2``, calls counted at a proxy in front of a scripted Airflow (no real Airflow
needed)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit.bot_process import BotProcess
from testkit.delay_proxy import DelayProxy
from testkit.flow import TOKEN, ScriptedAirflow

USER = "U0ALICE"
DAGS = [f"dag_{i:02d}" for i in range(30)]


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as scripted:
        for dag_id in DAGS:
            scripted.add_dag(dag_id)
        yield scripted


@pytest.fixture
def proxy(airflow: ScriptedAirflow) -> Iterator[DelayProxy]:
    with DelayProxy(airflow.url, delay=0.3) as counting:
        yield counting
        counting.gate.set()  # let go of anything still held, while Airflow is still there
        deadline = time.monotonic() + 10
        while counting.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)


def two_processes(workdir: Path, slack: SlackStandin, proxy: DelayProxy, budget: int) -> BotProcess:
    dep = f'url: "{proxy.url}", token: "${{SCRIPTED_TOKEN}}", api_version: v2'
    config = f"""
deployments:
  prod: {{{dep}, max_in_flight: {budget}}}
grants:
  - {{role: viewer, users: [{USER}]}}
"""
    env = {"SCRIPTED_TOKEN": TOKEN, "WEB_CONCURRENCY": "2"}
    return BotProcess(workdir=workdir, config=config, slack_api_url=slack.api_url, env=env)


def status_of(bot: BotProcess, dag_ids: list[str]) -> None:
    """``/airflow status <dag>`` for each, all at once, each in a channel of its own."""

    def ask(i: int, dag_id: str) -> None:
        text, channel = f"status prod {dag_id}", f"C0{i:03d}"
        assert bot.slash(text, user_id=USER, channel_id=channel)[0] == 200

    with ThreadPoolExecutor(len(dag_ids)) as pool:
        list(pool.map(ask, range(len(dag_ids)), dag_ids))


def workers_of(bot: BotProcess, count: int = 2) -> set[int]:
    """gunicorn's worker processes, once ``count`` are up."""
    deadline = time.monotonic() + 20
    while len(workers := bot.worker_pids()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return workers


def permit_holders(pids: set[int]) -> set[int]:
    """Which of ``pids`` hold an exclusive flock now: the budget's permits
    (bot/airflow/budget.py), or a read they lead for the others (bot/airflow/dyno_reads.py)."""
    return {pid for pid, kind in flocks() if pid in pids and kind == "WRITE"}


def flocks() -> list[tuple[int, str]]:
    """Every flock on the machine, held or waited for: (pid, WRITE or READ)."""
    found = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.replace("->", "").split()
        if "FLOCK" in fields:
            kind = fields[fields.index("FLOCK") + 2]
            found.append((int(fields[fields.index("FLOCK") + 3]), kind))
    return found


def test_two_processes_never_have_more_calls_at_airflow_than_max_in_flight_together(
    tmp_path: Path, slack_fresh: SlackStandin, proxy: DelayProxy
) -> None:
    with two_processes(tmp_path, slack_fresh, proxy, budget=3) as bot:
        workers = workers_of(bot)
        assert len(workers) == 2
        holders: set[int] = set()
        burst_done = threading.Event()

        def watch() -> None:
            while not burst_done.is_set():
                holders.update(permit_holders(workers))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Which process takes a connection is the kernel's choice: on a busy machine one may
        # take a whole burst. Again, then, until both have taken part.
        bursts = 0
        while bursts < 3 and holders != workers:
            bursts += 1
            status_of(bot, DAGS)
            slack_fresh.wait_for("chat.update", count=bursts * len(DAGS), timeout=60)
        burst_done.set()
        watcher.join(5)

    # Each DAG has no runs: two reads each (its runs, then the DAG), 60 a burst, 0.3 s each.
    assert proxy.requests == bursts * 2 * len(DAGS)
    assert proxy.peak == 3  # never more together; and all of it used, not split 1 + 1
    assert holders == workers, "both processes took part"


def test_a_worker_killed_holding_permits_gives_them_back(
    tmp_path: Path, slack_fresh: SlackStandin, proxy: DelayProxy
) -> None:
    with two_processes(tmp_path, slack_fresh, proxy, budget=2) as bot:
        workers = workers_of(bot)
        proxy.gate.clear()  # Airflow hangs: the calls stay in flight, their permits held
        status_of(bot, DAGS[:2])
        deadline = time.monotonic() + 10
        while proxy.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        holding = permit_holders(workers)
        assert proxy.in_flight == 2 and holding

        for pid in holding:
            os.kill(pid, signal.SIGKILL)  # as gunicorn kills a worker stuck past its timeout
        killed_at = time.monotonic()
        status_of(bot, DAGS[2:4])
        while proxy.requests < 4 and time.monotonic() < killed_at + 10:
            time.sleep(0.01)
        given_back_in = time.monotonic() - killed_at

    assert proxy.requests == 4, "the dead worker's permits were never given back"
    assert given_back_in < 5.0  # a new worker forked and the calls sent: the permits at once


def test_two_processes_asking_the_same_send_it_to_airflow_once(
    tmp_path: Path, slack_fresh: SlackStandin, proxy: DelayProxy
) -> None:
    proxy.delay = 1.0  # for the second read: all 30 ask for it as the first one's answer comes
    with two_processes(tmp_path, slack_fresh, proxy, budget=16) as bot:
        workers = workers_of(bot)
        seen: set[tuple[int, str]] = set()
        burst_done = threading.Event()

        def watch() -> None:
            while not burst_done.is_set():
                seen.update((pid, kind) for pid, kind in flocks() if pid in workers)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        proxy.gate.clear()  # the first read is held at Airflow until every command has asked
        status_of(bot, ["dag_07"] * 30)
        time.sleep(3)
        proxy.gate.set()
        slack_fresh.wait_for("chat.update", count=30, timeout=60)
        burst_done.set()
        watcher.join(5)

    # The DAG has no runs: its runs, then the DAG itself, each read once for all 30.
    assert proxy.seen == [
        ("GET", "/api/v2/dags/dag_07/dagRuns?limit=5&order_by=-run_after"),
        ("GET", "/api/v2/dags/dag_07"),
    ]
    # One process led each read (an exclusive lock), the other waited for it (a shared one).
    assert {pid for pid, kind in seen if kind == "READ"} and len({p for p, _ in seen}) == 2
