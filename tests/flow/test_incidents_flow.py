"""Failures spoken as incidents: one message per DAG and channel from its first failure to its
next success, the failures between in that message's thread, the message counting them, the
recovery told; a flapping DAG reopened in its thread; once across two processes, a restart and
a Slack outage.

The watcher is run one round at a time against the scripted Airflow, as in test_watch_flow."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core import incidents, watcher
from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment
from testkit.scripted_tasks import ScriptedTask

ALICE, VIEWER, STRANGER = "U0ALICE", "U0VIEW", "U0STRANGER"
ALERTS, OTHER = "C0ALERTS", "C0OTHER"


@pytest.fixture
def config(airflow: ScriptedAirflow) -> str:
    return f"""
deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: viewer, users: [{VIEWER}], dags: ["etl_*"]}}
  - {{role: viewer, users: [{STRANGER}], dags: ["hr_*"]}}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["etl_*"]}}
  - {{channel: {OTHER}, deployment: prod, dags: ["etl_daily"]}}
"""


@pytest.fixture
def flow(start_flow: StartFlow, config: str) -> Iterator[FlowBot]:
    bot = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    bot.local.bot.watcher.stop()
    bot.local.bot.watcher.tick()  # the first round: the watch starts from now
    yield bot


def fail(airflow: ScriptedAirflow, dag_id: str = "etl_daily") -> str:
    run_id = f"scheduled__{uuid.uuid4().hex[:8]}"
    tasks = [ScriptedTask("extract", "failed", log=["ValueError: bad row"])]
    airflow.add_past_run(dag_id, run_id, tasks=tasks)
    return run_id


def succeed(airflow: ScriptedAirflow, dag_id: str = "etl_daily") -> str:
    run_id = f"scheduled__{uuid.uuid4().hex[:8]}"
    airflow.add_past_run(dag_id, run_id, state="success")
    return run_id


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] for e in b.get("elements", [])
            if "action_id" in e]  # fmt: skip


def test_five_failures_and_a_success_are_one_message_and_its_thread(
    flow: FlowBot, airflow: ScriptedAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for _ in range(5):
        runs.append(fail(airflow))
        flow.watch_round()
    [incident] = flow.top_level(ALERTS)
    text = visible_text(incident)
    assert "Failed 5 times since" in text and runs[-1] in text  # the newest failure named
    assert incident["text"].count("times since") == 1  # the fallback text said once, not 5 times
    assert buttons(incident) == ["logs", "clear", "mark", "ack", "open_link"]
    told = flow.thread_texts(ALERTS, incident)
    assert len(told) == 4 and [r for t, r in zip(told, runs[1:], strict=True) if r in t] == runs[1:]
    recovered = succeed(airflow)
    flow.watch_round()
    [incident] = flow.top_level(ALERTS)
    assert f"Recovered: run `{recovered}` succeeded" in flow.thread_texts(ALERTS, incident)[-1]
    assert "after the first failure" in flow.thread_texts(ALERTS, incident)[-1]
    assert "Recovered" in visible_text(incident) and buttons(incident) == ["open_link"]
    # The next failure, once the ten minutes of a flapping DAG are over, is a new incident.
    monkeypatch.setattr(incidents, "REOPEN_SECONDS", 0.0)
    again = fail(airflow)
    flow.watch_round()
    first, second = flow.top_level(ALERTS)
    assert again in visible_text(second) and "times since" not in visible_text(second)
    assert len(flow.thread_texts(ALERTS, first)) == 5 and flow.thread_texts(ALERTS, second) == []


def test_each_channel_has_its_own_incident_and_its_own_recovery(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    fail(airflow)
    flow.watch_round()
    airflow.add_dag("etl_hourly")
    fail(airflow)
    fail(airflow, "etl_hourly")  # another DAG: another incident, in ALERTS only
    flow.watch_round()
    assert len(flow.top_level(ALERTS)) == 2 and len(flow.top_level(OTHER)) == 1
    succeed(airflow)
    flow.watch_round()
    daily, hourly = flow.top_level(ALERTS)
    [other] = flow.top_level(OTHER)
    assert (
        "Recovered" in flow.thread_texts(ALERTS, daily)[-1]
        and "Recovered" in flow.thread_texts(OTHER, other)[-1]
    )
    assert flow.thread_texts(ALERTS, hourly) == [] and "Recovered" not in visible_text(hourly)


def test_failures_and_the_success_read_in_one_round_make_one_incident(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    runs = [fail(airflow), fail(airflow), fail(airflow)]
    succeed(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    told = flow.thread_texts(OTHER, incident)
    assert len(told) == 3 and runs[1] in told[0] and runs[2] in told[1]
    assert "Recovered" in told[2]
    assert "Failed 3 times" in visible_text(incident) and "Recovered" in visible_text(incident)
    rows = [r for r in flow.local.bot.store.watch_events() if r["channel_id"] == OTHER]
    assert all(r["closed_at"] is not None for r in rows)  # nothing left open


def test_a_recovery_and_a_failure_again_read_in_one_round_leave_the_incident_open(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    fail(airflow)
    flow.watch_round()
    succeed(airflow)
    succeed(airflow)  # recovered once, not twice
    again = fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    told = flow.thread_texts(OTHER, incident)
    assert len(told) == 2 and "Recovered" in told[0]
    assert "Failing again" in told[1] and again in told[1]
    rows = flow.local.bot.store.incidents("prod", "failed", closed_since=datetime.now(UTC))
    assert sorted(r.channel_id for r in rows if r.closed_at is None) == [ALERTS, OTHER]


def test_a_failure_soon_after_a_recovery_reopens_the_incident_in_its_thread(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    fail(airflow)
    flow.watch_round()
    succeed(airflow)
    flow.watch_round()
    again = fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    told = flow.thread_texts(OTHER, incident)
    assert "Recovered" in told[0] and "Failing again" in told[1] and again in told[1]
    text = visible_text(incident)
    assert "Failed 2 times" in text and again in text and "Recovered" not in text
    assert "clear" in buttons(flow.slack.thread(OTHER, incident["ts"])[-1])
    succeed(airflow)
    flow.watch_round()
    assert "Recovered" in flow.thread_texts(OTHER, incident)[-1]
    assert len(flow.top_level(OTHER)) == 1


def test_the_message_acts_on_the_first_run_and_each_reply_on_its_own(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    first = fail(airflow)
    flow.watch_round()
    newest = fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    [reply] = flow.slack.thread(OTHER, incident["ts"])
    flow.click(incident, "clear", user=ALICE, channel=OTHER)
    flow.click(reply, "clear", user=ALICE, channel=OTHER)
    cleared = [w.json()["dag_run_id"] for w in airflow.writes()]
    assert cleared == [first, newest]


def test_two_processes_and_a_restart_keep_one_incident(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    second = flow.another_process()
    second.local.bot.watcher.stop()
    for _ in range(3):
        fail(airflow)
        second.local.bot.watcher.tick()
        flow.watch_round()
    second.local.bot.watcher.stop()
    flow.local.bot.watcher.stop()  # both stopped: their watches handed over
    again = flow.another_process()  # a restart: the incident lives in the store
    again.local.bot.watcher.stop()
    fail(airflow)
    again.watch_round()
    succeed(airflow)
    again.watch_round()
    [incident] = again.top_level(OTHER)
    told = again.thread_texts(OTHER, incident)
    assert len(told) == 4 and "Recovered" in told[-1]
    assert "Failed 4 times" in visible_text(incident)


def test_failures_while_slack_is_out_are_posted_as_one_message_once_it_is_back(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.server_error_next("chat.postMessage", status=503, times=100)
    for _ in range(3):
        fail(airflow)
        flow.watch_round()
    assert flow.top_level(OTHER) == []
    flow.slack.server_error_next("chat.postMessage", status=503, times=0)
    while flow.deliver_owed():
        pass
    for _ in range(3):
        flow.watch_round()
        while flow.deliver_owed():
            pass
    [incident] = flow.top_level(OTHER)
    assert "Failed 3 times" in visible_text(incident)
    assert len(flow.thread_texts(OTHER, incident)) == 2


def test_acknowledge_says_who_is_on_it_until_the_incident_is_over(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    mark = len(flow.slack.calls)
    flow.click(incident, "ack", user=STRANGER, channel=OTHER)  # may not see this DAG
    assert "You may `status` on `prod` only DAGs matching `hr_*`" in flow.told_privately_since(mark)
    assert "is on it" not in visible_text(flow.top_level(OTHER)[0])
    flow.click(incident, "ack", user=VIEWER, channel=OTHER)  # status is enough
    [incident] = flow.top_level(OTHER)
    assert f"<@{VIEWER}> is on it (acknowledged at" in visible_text(incident)
    assert buttons(incident) == ["logs", "clear", "mark", "ack", "open_link"]
    [entry] = [e for e in flow.audit() if e.verb == "ack" and e.allowed]
    assert (entry.user_id, entry.dag_id, entry.ok) == (VIEWER, "etl_daily", True)
    # Counted by the next failure, the message still says who is on it.
    fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    assert "Failed 2 times" in visible_text(incident) and "is on it" in visible_text(incident)
    flow.click(incident, "clear", user=ALICE, channel=OTHER)  # its buttons still work
    assert len(airflow.writes()) == 1
    before = copy.deepcopy(incident)
    succeed(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    assert "Recovered" in visible_text(incident) and "is on it" in visible_text(incident)
    assert buttons(incident) == ["open_link"]
    # A click on the button of the message as it was before (a stale client): nothing open.
    mark = len(flow.slack.calls)
    flow.click(before, "ack", user=VIEWER, channel=OTHER)
    assert "no open incident here" in flow.told_privately_since(mark)
    assert "Recovered" in visible_text(flow.top_level(OTHER)[0])  # left as it is


def test_each_failure_says_what_changed_since_the_dag_last_worked(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    worked = airflow.add_past_run("etl_daily", "scheduled__ok", state="success")
    worked.update(dag_versions=[{"version_number": 4, "bundle_version": "a1b2c3"}],
                  bundle_version="a1b2c3", conf={"region": "eu", "token": "s3cret"})  # fmt: skip
    flow.watch_round()
    run_id = fail(airflow)
    airflow.dags["etl_daily"].runs[run_id].update(
        dag_versions=[{"version_number": 5, "bundle_version": "d4e5f6"}],
        bundle_version="d4e5f6", run_type="manual", conf={"region": "us", "token": "s3cret"},
    )  # fmt: skip
    before = len(airflow.http.requests)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    text = visible_text(incident)
    assert "Since it last worked (" in text and "run `scheduled__ok`" in text
    assert "DAG version 4 → 5" in text and "bundle `a1b2c3` → `d4e5f6`" in text
    assert "a manual run (it last worked in a scheduled one)" in text
    assert "conf differs in `region`" in text and "token" not in text  # keys, never values
    assert "eu" not in text.split("Since it last worked")[1].split("\n")[0]
    # One read of the last success for both channels' new incidents.
    asked = [r.path for r in airflow.http.requests[before:] if r.query.get("state") == ["success"]]
    assert asked == ["/api/v2/dags/etl_daily/dagRuns"]
    # A later failure, like the first: compared with the same success, with no more reads.
    again = fail(airflow)
    airflow.dags["etl_daily"].runs[again].update(
        dag_versions=[{"version_number": 4, "bundle_version": "a1b2c3"}], bundle_version="a1b2c3",
        conf={"region": "eu", "token": "s3cret"},
    )  # fmt: skip
    before = len(airflow.http.requests)
    flow.watch_round()
    [reply] = flow.thread_texts(OTHER, incident)
    assert "the same DAG version, run type and conf" in reply
    assert not [r for r in airflow.http.requests[before:] if r.query.get("state") == ["success"]]


def test_a_dag_that_never_worked_says_so(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    fail(airflow)
    flow.watch_round()
    [incident] = flow.top_level(OTHER)
    assert "No successful run of it to compare with" in visible_text(incident)


def test_a_burst_of_new_incidents_reads_a_bounded_number_of_last_successes(
    flow: FlowBot, airflow: ScriptedAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher, "CHANGES_READS_PER_ROUND", 1)
    airflow.add_dag("etl_hourly")
    fail(airflow)
    fail(airflow, "etl_hourly")
    before = len(airflow.http.requests)
    flow.watch_round()
    asked = [r for r in airflow.http.requests[before:] if r.query.get("state") == ["success"]]
    assert len(asked) == 1
    told = ["No successful run of it" in visible_text(p) for p in flow.top_level(ALERTS)]
    assert sorted(told) == [False, True]  # both posted; one without the line
