"""The trouble Airflow makes no sound about, as a subscribed channel hears it: a run running
long, a run or its tasks stuck in the queue, a DAG late for its deadline, a DAG file that does
not import. Each is one alert, told once per channel (two processes, a restart, Slack failing
included), whose end is told in its thread while the alert loses its buttons.

The watcher is run one round at a time (``Watcher.tick``) against the scripted Airflow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core import silent
from bot.core.watcher import Watcher
from bot.store.schema import watch_event
from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment
from testkit.scripted_tasks import ScriptedTask

ALICE, VIEWER = "U0ALICE", "U0VIEW"
ALERTS = "C0ALERTS"
NOW = datetime.now(UTC)
DEADLINE = (NOW - timedelta(minutes=1)).strftime("%H:%M")  # one that has just passed (UTC)
TRACE = 'Traceback (most recent call last):\n  File "dags/etl.py", line 3\nSyntaxError: bad <!here>'


@pytest.fixture
def config(airflow: ScriptedAirflow) -> str:
    for dag in ("etl_daily", "etl_hourly", "etl_fresh"):
        airflow.add_dag(dag)
    return f"""
deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: viewer, users: [{VIEWER}]}}
subscriptions:
  - channel: {ALERTS}
    deployment: prod
    dags: ["etl_*"]
    events: [long, queued]
    long_after: 30m
    queued_after: 15m
  - channel: {ALERTS}
    deployment: prod
    dags: ["dags/*"]
    events: [import_errors]
"""


def quiet(flow: FlowBot) -> Watcher:
    watcher = flow.local.bot.watcher
    watcher.stop()
    return watcher


@pytest.fixture
def flow(start_flow: StartFlow, config: str) -> Iterator[FlowBot]:
    bot = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(bot).tick()
    yield bot


def round_(flow: FlowBot) -> None:
    flow.local.bot.watcher.tick()
    flow.settle()


def posts(flow: FlowBot, channel: str = ALERTS) -> list[dict[str, Any]]:
    return [m for m in flow.said(channel) if "thread_ts" not in m]


def thread(flow: FlowBot, parent: dict[str, Any], channel: str = ALERTS) -> list[str]:
    return [visible_text(m) for m in flow.said(channel) if m.get("thread_ts") == parent["ts"]]


def actions(message: dict[str, Any]) -> list[str]:
    return [e.get("action_id") for b in message["blocks"] for e in b.get("elements", [])
            if b["type"] == "actions"]  # fmt: skip


def due_now(flow: FlowBot) -> None:
    """The watch's retries of its posts are due now, not after their backoff."""
    with flow.local.bot.store._db.begin() as conn:
        conn.execute(watch_event.update().values(next_try_at=watch_event.c.created_at))


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def running_long(airflow: ScriptedAirflow, dag_id: str = "etl_daily", minutes: float = 40) -> str:
    tasks = [
        ScriptedTask("extract", "success"),
        ScriptedTask("load", "running", start_date=ago(minutes - 5).isoformat()),
    ]
    return str(airflow.add_running_run(dag_id, ago(minutes), tasks=tasks)["dag_run_id"])


def end(airflow: ScriptedAirflow, dag_id: str, run_id: str, state: str = "success") -> None:
    airflow.dags[dag_id].runs[run_id].update(state=state, end_date=datetime.now(UTC).isoformat())


# -- long ------------------------------------------------------------------------------------


def test_a_run_past_its_limit_is_told_once_and_its_end_in_the_thread(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    run_id = running_long(airflow)
    airflow.add_running_run("etl_hourly", ago(10))  # under the limit
    round_(flow)
    [alert] = posts(flow)
    text = visible_text(alert)
    assert "Run running long" in text and "etl_daily" in text and run_id in text
    assert "running for 40m" in text and "limit 30m 00s" in text
    assert "`load` for 35m" in text and "extract" not in text
    assert actions(alert) == ["logs", "mark", "open_link"]
    round_(flow)
    round_(flow)
    assert len(posts(flow)) == 1 and thread(flow, alert) == []
    end(airflow, "etl_daily", run_id)
    round_(flow)
    [told] = thread(flow, alert)
    assert "ended" in told and "success" in told
    [raw] = [m for m in flow.said(ALERTS) if m.get("thread_ts") == alert["ts"]]
    assert "`" not in raw["text"]  # the notification's text is plain
    [alert] = posts(flow)  # updated in place: its buttons gone, its link kept
    assert actions(alert) == ["open_link"] and "success" in visible_text(alert)
    round_(flow)
    assert len(thread(flow, alert)) == 1


def test_without_a_limit_twice_the_usual_duration_at_least_ten_minutes(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    airflow.add_dag("etl_daily")
    airflow.add_dag("etl_new")  # never succeeded: no automatic limit
    for n, minutes in enumerate((4, 6, 5)):
        run = airflow.add_past_run("etl_daily", f"scheduled__{n}", state="success")
        run["start_date"] = (
            datetime.fromisoformat(run["end_date"]) - timedelta(minutes=minutes)
        ).isoformat()
    config = f"""
deployments:
  prod: {deployment(airflow)}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["etl_*"], events: [long]}}
"""
    flow = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(flow).tick()
    airflow.add_running_run("etl_daily", ago(9))  # under 10 minutes: not yet
    airflow.add_running_run("etl_new", ago(600))
    round_(flow)
    assert posts(flow) == []
    running_long(airflow, "etl_daily", minutes=11)
    round_(flow)
    [alert] = posts(flow)
    assert "usually 5m 00s (limit 10m 00s)" in visible_text(alert)
    # The usual duration was read once, and is kept: no more reads of it.
    reads = [r for r in airflow.http.requests if "state=success" in r.path + str(r.query)]
    round_(flow)
    assert [r for r in airflow.http.requests if "state=success" in r.path + str(r.query)] == reads


def test_mark_failed_from_the_alert_is_authorised_afresh(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    run_id = running_long(airflow)
    round_(flow)
    [alert] = posts(flow)
    mark = len(flow.slack.calls)
    flow.click(alert, "mark", user=VIEWER, channel=ALERTS)
    assert "None of your grants allows `mark`" in flow.told_privately_since(mark)
    assert airflow.writes() == []
    flow.click(alert, "mark", user=ALICE, channel=ALERTS)
    [write] = airflow.writes()
    assert write.method == "PATCH" and write.json() == {"state": "failed"}
    assert airflow.dags["etl_daily"].runs[run_id]["state"] == "failed"


# -- queued ----------------------------------------------------------------------------------


def test_a_run_queued_behind_max_active_runs_says_which_runs_hold_the_slot(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.dags["etl_daily"].max_active_runs = 1
    holder = airflow.add_running_run("etl_daily", ago(20), run_id="scheduled__holder")
    waiting = airflow.add_queued_run("etl_daily", ago(16), run_id="scheduled__waiting")
    airflow.add_queued_run("etl_hourly", ago(5))  # not yet 15 minutes
    round_(flow)
    [alert] = posts(flow)
    text = visible_text(alert)
    assert "Stuck in the queue" in text and "scheduled__waiting" in text
    assert "max_active_runs (1) is reached: held by scheduled__holder" in text
    round_(flow)
    assert len(posts(flow)) == 1
    end(airflow, "etl_daily", holder["dag_run_id"])
    waiting.update(state="running", start_date=datetime.now(UTC).isoformat())
    round_(flow)
    [told] = thread(flow, alert)
    assert "Started" in told and "running" in told


def test_a_paused_dags_queued_run_says_it_is_paused(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.dags["etl_daily"].is_paused = True
    airflow.add_queued_run("etl_daily", ago(30))
    round_(flow)
    [alert] = posts(flow)
    assert "The DAG is paused" in visible_text(alert)


def test_a_task_waiting_too_long_is_told_with_airflows_reason(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    reason = {
        "name": "Pool Slots Available",
        "reason": "Not scheduling since there are 0 open slots in pool <big>",
    }
    task = ScriptedTask("load", "scheduled", try_number=0, scheduled_at=ago(20).isoformat(),
                        dependencies=[reason])  # fmt: skip
    run = airflow.add_running_run("etl_daily", ago(25), tasks=[task])
    round_(flow)
    [alert] = posts(flow)
    text = visible_text(alert)
    assert "`load` (scheduled)" in text
    assert (
        "Pool Slots Available: Not scheduling since there are 0 open slots in pool &lt;big&gt;"
        in text
    )
    task.state = "running"
    round_(flow)
    [told] = thread(flow, alert)
    assert "no longer queued" in told
    assert run["dag_run_id"] in visible_text(alert)


# -- import errors ---------------------------------------------------------------------------


def test_a_broken_dag_file_is_posted_its_change_and_fix_told_in_the_thread(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_import_error("dags/etl.py", TRACE)
    airflow.add_import_error("plugins/other.py", TRACE)  # not matched by dags/*
    round_(flow)
    [post] = posts(flow)
    text = visible_text(post)
    assert "does not import" in text and "dags/etl.py" in text and "SyntaxError" in text
    assert "&lt;!here&gt;" in str(post["blocks"])
    round_(flow)
    assert len(posts(flow)) == 1 and thread(flow, post) == []
    airflow.import_errors["dags/etl.py"]["stack_trace"] = "NameError: name 'x' is not defined"
    round_(flow)
    round_(flow)
    [changed] = thread(flow, post)
    assert "changed" in changed and "NameError" in changed
    airflow.fix_import_error("dags/etl.py")
    round_(flow)
    assert "Imports again" in thread(flow, post)[-1]
    assert len(posts(flow)) == 1
    airflow.add_import_error("dags/etl.py", TRACE)  # broken again: a new post
    round_(flow)
    assert len(posts(flow)) == 2


# -- late ------------------------------------------------------------------------------------


def test_a_dag_with_no_success_by_the_deadline_is_late_one_with_one_is_not(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    airflow.add_dag("etl_daily")
    airflow.add_dag("etl_fresh")
    airflow.add_past_run("etl_fresh", "scheduled__fine", state="success")
    airflow.add_past_run("etl_daily", "scheduled__bad", state="failed")
    config = f"""
deployments:
  prod: {deployment(airflow)}
subscriptions:
  - channel: {ALERTS}
    deployment: prod
    dags: ["etl_*"]
    events: [late]
    late: {{at: "{DEADLINE}"}}
"""
    flow = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(flow).tick()
    round_(flow)
    [alert] = posts(flow)
    text = visible_text(alert)
    assert "Late" in text and "etl_daily" in text and "etl_fresh" not in text
    assert f"before {DEADLINE} UTC" in text and "never succeeded" in text
    assert "failed at" in text and "scheduled__bad" in text
    round_(flow)
    assert len(posts(flow)) == 1
    airflow.add_run("etl_daily", state="success", dag_run_id="manual__rescue")
    round_(flow)
    [told] = thread(flow, alert)
    assert "Succeeded" in told and "manual__rescue" in told


# -- nothing lost, nothing twice -------------------------------------------------------------


def test_two_processes_tell_each_incident_once(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    second = flow.another_process()
    quiet(second)
    run_id = running_long(airflow)
    airflow.add_import_error("dags/etl.py", TRACE)
    for _ in range(3):
        second.local.bot.watcher.tick()
        round_(flow)
    assert len(posts(flow)) == 2
    end(airflow, "etl_daily", run_id)
    for _ in range(3):
        second.local.bot.watcher.tick()
        round_(flow)
    [alert] = [p for p in posts(flow) if "running long" in visible_text(p)]
    assert len(thread(flow, alert)) == 1


def test_an_incident_open_across_a_restart_is_closed_after_it(
    start_flow: StartFlow, config: str, airflow: ScriptedAirflow
) -> None:
    first = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(first).tick()
    run_id = running_long(airflow)
    first.local.bot.watcher.tick()
    first.settle()
    first.close()
    end(airflow, "etl_daily", run_id)
    again = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(again)
    again.slack.carry_over(first.slack.messages)
    due_now(again)  # in case its first round, before the carry-over, found no alert to update
    again.local.bot.watcher.tick()
    again.settle()
    [alert] = posts(again)
    assert len(thread(again, alert)) == 1 and "ended" in thread(again, alert)[0]


def test_an_alert_owed_through_an_outage_is_posted_once_as_it_then_reads(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.fail_next("chat.postMessage", "invalid_blocks")  # the watch retries it itself
    run_id = running_long(airflow)
    round_(flow)
    assert posts(flow) == []
    end(airflow, "etl_daily", run_id)
    round_(flow)
    due_now(flow)
    round_(flow)
    [alert] = posts(flow)
    assert "ended" in visible_text(alert) and actions(alert) == ["open_link"]
    assert thread(flow, alert) == []


def test_details_of_many_new_alerts_are_read_a_few_a_round_and_none_is_lost(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    for n in range(5):
        airflow.add_dag(f"etl_batch_{n}")
        running_long(airflow, f"etl_batch_{n}")
    counts, alerts = [], []
    for _ in range(4):
        before = len(airflow.http.requests)
        round_(flow)
        counts.append(len(airflow.http.requests) - before)
        alerts.append(len(posts(flow)))
    # Each round: the runs that ended, the runs under way, the tasks waiting (the config's
    # subscriptions want long and queued; import errors for the other), and at most two calls
    # for details (here, each long run's running tasks).
    assert max(counts) <= 4 + 2, counts
    assert alerts == [2, 4, 5, 5]


def test_the_usual_duration_is_learned_from_the_runs_the_watch_reads(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    airflow.add_dag("etl_daily")
    config = f"""
deployments:
  prod: {deployment(airflow)}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["etl_*"], events: [long]}}
"""
    flow = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(flow).tick()
    for n, minutes in enumerate((8, 9, 10)):  # succeed while the bot watches: learned
        run = airflow.add_past_run("etl_daily", f"scheduled__{n}", state="success")
        run["start_date"] = (
            datetime.fromisoformat(run["end_date"]) - timedelta(minutes=minutes)
        ).isoformat()
    round_(flow)
    running_long(airflow, "etl_daily", minutes=17)  # under twice 9 minutes
    round_(flow)
    assert posts(flow) == []
    asked = [r for r in airflow.http.requests if "state=success" in r.path + str(r.query)]
    assert asked == []  # learned, not read
    airflow.add_running_run("etl_daily", ago(20), run_id="scheduled__slow")
    round_(flow)
    [alert] = posts(flow)
    assert "scheduled__slow" in visible_text(alert)
    assert "usually 9m 00s (limit 18m 00s)" in visible_text(alert)


def watching_only(start_flow: StartFlow, airflow: ScriptedAirflow, subscription: str) -> FlowBot:
    """A bot whose one subscription (in ALERTS, on prod) is ``subscription``'s YAML fields."""
    config = f"""
deployments:
  prod: {deployment(airflow)}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, {subscription}}}
"""
    flow = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(flow).tick()
    return flow


def calls_to(airflow: ScriptedAirflow, fragment: str) -> int:
    return sum(1 for r in airflow.http.requests if fragment in r.path + str(r.query))


def test_a_run_cleared_after_its_alert_closed_is_not_told_again(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    run_id = running_long(airflow)
    round_(flow)
    end(airflow, "etl_daily", run_id)
    round_(flow)
    [alert] = posts(flow)
    assert len(thread(flow, alert)) == 1
    airflow.dags["etl_daily"].runs[run_id].update(state="running", end_date=None)  # cleared
    round_(flow)
    round_(flow)
    assert len(posts(flow)) == 1


def test_dags_outside_the_pattern_are_not_told(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    airflow.add_dag("hr_payroll")
    running_long(airflow, "hr_payroll")
    airflow.add_queued_run("hr_payroll", ago(60))
    round_(flow)
    assert posts(flow) == []


def test_where_airflow_gives_no_time_the_wait_counts_from_when_it_was_first_seen(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    # Airflow 2's API gives a queued run no queued_at, and a scheduled task no scheduled_when.
    airflow.add_dag("etl_daily")
    airflow.add_dag("etl_hourly")
    flow = watching_only(start_flow, airflow, 'dags: ["etl_*"], events: [queued], queued_after: 2s')
    run = airflow.add_queued_run("etl_daily", ago(60))
    run["queued_at"] = None
    task = ScriptedTask("load", "scheduled", try_number=0)
    airflow.add_running_run("etl_hourly", ago(60), tasks=[task])
    round_(flow)
    assert posts(flow) == []  # however old Airflow says the runs are: first seen now
    time.sleep(2.5)
    round_(flow)
    assert sorted("etl_daily" in visible_text(p) for p in posts(flow)) == [False, True]


def test_a_queued_run_below_max_active_runs_has_no_reason_and_stays_open_while_queued(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.dags["etl_daily"].max_active_runs = 2
    airflow.add_running_run("etl_daily", ago(20), run_id="scheduled__one")
    airflow.add_running_run("etl_hourly", ago(20), run_id="scheduled__other_dag")
    airflow.add_running_run("etl_hourly", ago(20), run_id="scheduled__other_dag_2")
    airflow.add_queued_run("etl_daily", ago(16))
    round_(flow)
    [alert] = posts(flow)
    assert "Airflow gives no reason" in visible_text(alert)
    assert "max_active_runs" not in visible_text(alert)
    round_(flow)
    assert thread(flow, alert) == []


def test_a_late_deadline_is_checked_once_and_a_dag_named_exactly_too(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    airflow.add_dag("etl_daily")
    flow = watching_only(
        start_flow, airflow, f'dags: [etl_daily], events: [late], late: {{at: "{DEADLINE}"}}'
    )
    round_(flow)
    [alert] = posts(flow)
    assert "etl_daily" in visible_text(alert) and "no run at all" in visible_text(alert)
    before = len(airflow.http.requests)
    round_(flow)
    round_(flow)
    # Checked: the rounds after ask only for what ended.
    assert all("dagRuns" in r.path and "state=success" not in str(r.query)
               for r in airflow.http.requests[before:]), airflow.http.requests[before:]  # fmt: skip
    assert len(posts(flow)) == 1


def test_a_deadline_long_past_is_not_news(start_flow: StartFlow, airflow: ScriptedAirflow) -> None:
    airflow.add_dag("etl_daily")
    past = (datetime.now(UTC) - timedelta(hours=2)).strftime("%H:%M")
    flow = watching_only(
        start_flow, airflow, f'dags: ["etl_*"], events: [late], late: {{at: "{past}"}}'
    )
    round_(flow)
    assert posts(flow) == []


def test_a_late_pattern_over_more_dags_than_a_page_and_successes_learned(
    start_flow: StartFlow, airflow: ScriptedAirflow
) -> None:
    for n in range(104):
        airflow.add_dag(f"etl_{n:03d}")
    first = watching_only(start_flow, airflow, 'dags: ["etl_*"], events: [long]')
    # Every DAG but the last succeeds while the bot watches: learned.
    for n in range(103):
        airflow.add_past_run(f"etl_{n:03d}", "scheduled__ok", state="success")
    round_(first)
    first.close()
    # Then a late deadline is added (the config changed, the bot restarted): the learned
    # successes are not asked about again.
    subscription = f'dags: ["etl_*"], events: [late], late: {{at: "{DEADLINE}"}}'
    flow = watching_only(start_flow, airflow, subscription)
    for _ in range(3):  # the listing's two pages, then a read of each DAG not learned
        round_(flow)
    late = sorted(visible_text(p).split("|")[1].split(">")[0] for p in posts(flow))
    assert late == ["etl_103", "etl_daily"]  # etl_daily: the scripted Airflow's, never run
    assert calls_to(airflow, "etl_000/dagRuns") == 0
    assert calls_to(airflow, "etl_103/dagRuns") == 1


def after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch's clock six minutes on: past a deadline set five minutes ahead."""

    class AfterTheDeadline(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> AfterTheDeadline:
            moved = datetime.now(tz) + timedelta(minutes=6)
            return cls.fromtimestamp(moved.timestamp(), tz)

    monkeypatch.setattr(silent, "datetime", AfterTheDeadline)


def test_a_late_deadline_is_prepared_ahead_and_told_in_the_first_round_after_it(
    start_flow: StartFlow, airflow: ScriptedAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    for dag_id in ("etl_won", "etl_caught_up", "etl_idle"):
        airflow.add_dag(dag_id)
    airflow.add_past_run("etl_won", "scheduled__ok", state="success")
    ahead = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%H:%M")  # 4-5 minutes ahead
    flow = watching_only(
        start_flow, airflow, f'dags: ["etl_*"], events: [late], late: {{at: "{ahead}"}}'
    )
    for _ in range(3):  # the listing, then the DAGs the store knows nothing of, two a round
        round_(flow)
    assert posts(flow) == []
    # Each DAG the store knew nothing of asked for its last successes, ahead of the deadline.
    read = sorted(
        r.path.split("/")[4]
        for r in airflow.http.requests
        if r.path.endswith("/dagRuns") and "/etl_" in r.path
    )
    assert read == ["etl_caught_up", "etl_daily", "etl_idle", "etl_won"]
    # A success the watch did not see ended (it ended an hour ago, before the watch's cursor).
    caught_up = airflow.add_past_run("etl_caught_up", "manual__ok", state="success")
    caught_up["end_date"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    before = len(airflow.http.requests)
    after_the_deadline(monkeypatch)
    round_(flow)  # the first round after the deadline tells it
    late = sorted(visible_text(p).split("|")[1].split(">")[0] for p in posts(flow))
    assert late == ["etl_daily", "etl_idle"]
    asked = [r.path for r in airflow.http.requests[before:]]
    # The deadline's two calls (who succeeded since the window began, what the late ones do),
    # and no DAG asked on its own.
    assert asked.count("/api/v2/dags/~/dagRuns/list") == 2, asked
    assert not any("/dags/etl_" in path for path in asked), asked


def test_a_success_the_deadline_s_batch_page_left_out_is_asked_on_its_own(
    start_flow: StartFlow, airflow: ScriptedAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(silent, "PAGE", 2)  # the deadline's batch read holds two successes
    for dag_id in ("etl_a", "etl_b", "etl_c"):
        airflow.add_dag(dag_id)
    airflow.add_past_run("hr_payroll", "scheduled__ok", state="success")  # the watch's cursor
    ahead = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%H:%M")
    flow = watching_only(
        start_flow, airflow, f'dags: ["etl_*"], events: [late], late: {{at: "{ahead}"}}'
    )
    for _ in range(4):  # the listing (two pages), then each DAG's history, ahead of it
        round_(flow)
    # Three successes the watch did not see end (an hour ago, before its cursor): more than
    # the batch page holds.
    for dag_id in ("etl_a", "etl_b", "etl_c"):
        run = airflow.add_past_run(dag_id, "manual__ok", state="success")
        run["end_date"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    after_the_deadline(monkeypatch)
    round_(flow)
    late = sorted(visible_text(p).split("|")[1].split(">")[0] for p in posts(flow))
    assert late == ["etl_daily"]  # the one left off the page was asked, and had succeeded


def test_a_dag_file_with_a_long_path_is_told_and_closed(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    path = "dags/" + "deep/" * 60 + "etl.py"  # longer than the store's key column
    airflow.add_import_error(path, TRACE)
    round_(flow)
    [post] = posts(flow)
    assert "etl.py" in visible_text(post)
    round_(flow)
    assert len(posts(flow)) == 1
    airflow.fix_import_error(path)
    round_(flow)
    assert "Imports again" in thread(flow, post)[-1]
