"""Nothing acknowledged is lost when a process stops or dies: the request journal
(bot/slack/journal.py) hands what a process did not do to the next, which answers it once, and
never sends Airflow a write twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from bot.app import journal_dir
from testkit.flow import (
    USER,
    Delivery,
    FlowBot,
    ScriptedAirflow,
    StartFlow,
    flow_config,
)


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(flow_config(airflow, {"prod": {}}, operators=[USER]), follower="manual")


def thread_of(flow: FlowBot, typed: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The parents of the command ``typed`` and the replies in their threads."""
    said = flow.said()
    parents = [m for m in said if "thread_ts" not in m and f"/airflow {typed}`" in m["text"]]
    replies = [m for p in parents for m in said if m.get("thread_ts") == p["ts"]]
    return parents, replies


def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_request_still_running_at_the_end_of_the_grace_is_answered_once_by_the_next(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    bot = flow.local.bot
    airflow.delay = 3.0  # each call: the command is still waiting on Airflow at the end
    flow.deliver(flow.slash_request("status prod etl_daily"), settle=False)
    until(lambda: bot.workers.in_flight == 1 and airflow.http.requests)
    bot.drain(grace_seconds=0.3)
    airflow.delay = 0.0
    second = flow.another_process()
    assert second.local.bot.handover is not None
    assert second.local.bot.handover.pick_up() == 1
    second.settle()
    until(lambda: bot.workers.in_flight == 0)  # the first process's run ends, saying nothing
    flow.settle()
    parents, replies = thread_of(flow, "status prod etl_daily")
    assert len(parents) == 1 and len(replies) == 1, (parents, replies)
    assert "etl_daily" in str(replies[0].get("blocks")) + replies[0]["text"]


def test_a_write_under_way_at_the_end_of_the_grace_is_not_handed_over(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    bot = flow.local.bot
    airflow.delay = 1.0
    flow.deliver(flow.slash_request("trigger prod etl_daily"), settle=False)
    until(lambda: any(r.method == "POST" for r in airflow.http.requests))
    bot.drain(grace_seconds=0.1)
    second = flow.another_process()
    assert second.local.bot.handover is not None
    assert second.local.bot.handover.pick_up() == 0  # it finishes where it started
    until(lambda: bot.workers.in_flight == 0)
    flow.settle()
    _, replies = thread_of(flow, "trigger prod etl_daily")
    assert len(replies) == 1 and sum(r.method == "POST" for r in airflow.http.requests) == 1


# A process that writes two requests down, the second having begun a write to Airflow, and is
# then killed with SIGKILL before either is done (or moved to the store: FLUSH_S is long).
DIES = """
import json, os, signal, sys
from pathlib import Path
from bot.slack import journal as j
from bot.store import Store
j.FLUSH_S = 3600
store = Store(sys.argv[1])
journal = j.RequestJournal(store, Path(sys.argv[2]), owner=lambda: "dead-host:1")
journal.start()
for key, body, headers, writes in json.loads(sys.stdin.read()):
    journal.accepted(key, (body, headers))
    if writes:
        with journal._lock:
            journal._open[key].wrote = True
            os.write(journal._fd, j._line({"w": key}))
os.kill(os.getpid(), signal.SIGKILL)
"""


def raw(delivery: Delivery) -> tuple[str, str, dict[str, list[str]]]:
    headers = {k.lower(): [v] for k, v in delivery.headers.items()}
    return headers["x-slack-signature"][0], delivery.body.decode(), headers


def test_what_a_killed_process_acknowledged_is_carried_on_and_no_write_is_sent_twice(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    bot = flow.local.bot
    status, trigger = (
        flow.slash_request("status prod etl_daily"),
        flow.slash_request("trigger prod etl_daily"),
    )
    records = [(*raw(status), False), (*raw(trigger), True)]
    folder = journal_dir(bot.settings)
    died = subprocess.run(
        [sys.executable, "-c", DIES, bot.settings.database_url, str(folder)],
        input=json.dumps(records), text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert died.returncode == -9, died.stderr
    assert bot.journal is not None and bot.journal.recover() == 2
    assert bot.handover is not None and bot.handover.pick_up() == 2
    flow.settle()
    _, status_replies = thread_of(flow, "status prod etl_daily")
    assert len(status_replies) == 1
    [_], trigger_replies = thread_of(flow, "trigger prod etl_daily")
    [told] = trigger_replies
    assert "not known" in told["text"] and "/airflow status prod etl_daily" in told["text"]
    assert not [r for r in airflow.http.requests if r.method == "POST"]  # not sent again
    assert not list(folder.glob("dead-host*"))  # its file is gone once carried on
