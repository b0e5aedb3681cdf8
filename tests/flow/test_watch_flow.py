"""Watching Airflow for subscribed channels: failure alerts and success lines for runs that end,
whoever started them, each posted once (restarts, two processes, Slack failing included).

The watcher is run one round at a time (``Watcher.tick``) against the scripted Airflow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.watcher import Watcher
from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment
from testkit.scripted_tasks import ScriptedTask

ALICE, VIEWER = "U0ALICE", "U0VIEW"
ALERTS, OTHER = "C0ALERTS", "C0FLOW"
LOG = ["Running extract", "Reading orders", "ValueError: bad row <!channel> & <@U0BOSS>"]


@pytest.fixture
def config(airflow: ScriptedAirflow) -> str:
    return f"""
deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: viewer, users: [{VIEWER}]}}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["etl_*"]}}
"""


def quiet(flow: FlowBot) -> Watcher:
    """The bot's watcher, stopped in the background: the test runs its rounds."""
    watcher = flow.local.bot.watcher
    watcher.stop()
    return watcher


@pytest.fixture
def flow(start_flow: StartFlow, config: str) -> Iterator[FlowBot]:
    bot = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(bot).tick()  # the first round: the watch starts from now
    yield bot


def fail(airflow: ScriptedAirflow, dag_id: str = "etl_daily") -> str:
    """A run of ``dag_id`` that just failed, started by the scheduler: ``extract`` failed
    (its log ends with LOG), and ``load`` after it."""
    run_id = f"scheduled__{uuid.uuid4().hex[:8]}"
    tasks = [
        ScriptedTask("extract", "failed", log=LOG),
        ScriptedTask("load", "upstream_failed", try_number=0),
    ]
    airflow.add_past_run(dag_id, run_id, tasks=tasks)
    return run_id


def posts(flow: FlowBot, channel: str = ALERTS) -> list[dict[str, Any]]:
    return [m for m in flow.said(channel) if "thread_ts" not in m]


def round_(flow: FlowBot) -> None:
    flow.local.bot.watcher.tick()
    flow.settle()


def test_a_failed_run_is_posted_once_with_its_tasks_log_and_buttons(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    run_id = fail(airflow)
    round_(flow)
    [alert] = posts(flow)
    text = visible_text(alert)
    assert "Run failed" in text and "etl_daily" in text and run_id in text
    assert "scheduled" in text and "`extract`, `load`" in text
    assert "Reading orders" in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in str(alert["blocks"])  # escaped
    bars = [b for b in alert["blocks"] if b["type"] == "actions"]
    actions = [e["action_id"] for b in bars for e in b["elements"]]
    assert actions == ["logs", "clear", "mark", "ack", "open_link"]
    round_(flow)
    round_(flow)
    assert len(posts(flow)) == 1


def test_only_what_a_subscription_wants_is_posted(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    airflow.add_run("etl_daily", state="success")  # the config's subscription wants failures
    fail(airflow, "hr_payroll")  # not etl_*
    round_(flow)
    assert posts(flow) == []


def test_a_success_subscription_gets_one_line_and_starts_now(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_run("etl_daily", state="success")
    round_(flow)  # read before the subscription: not posted to it
    flow.command("subscribe prod etl_* success", channel=OTHER)
    flow.settle()
    run = airflow.add_run("etl_daily", state="success", run_type="manual")
    round_(flow)
    [line] = [m for m in posts(flow, OTHER) if "succeeded" in m["text"]]
    assert run["dag_run_id"] in visible_text(line) and "(manual)" in visible_text(line)


def test_two_processes_on_one_store_post_once(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    second = flow.another_process()
    quiet(second)
    fail(airflow)
    for _ in range(3):
        second.local.bot.watcher.tick()
        round_(flow)
    assert len(posts(flow)) == 1


def test_a_run_that_fails_while_the_bot_is_down_is_posted_once_after(
    start_flow: StartFlow, config: str, airflow: ScriptedAirflow
) -> None:
    first = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(first).tick()
    first.close()  # stopped: its watch is handed over
    fail(airflow)
    again = start_flow(config, {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(again).tick()
    again.settle()
    assert len(posts(again)) == 1


def test_a_post_slack_refuses_is_posted_later_once(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    flow.slack.server_error_next("chat.postMessage", status=503, times=3)
    fail(airflow)
    round_(flow)
    assert posts(flow) == []
    # The outbox has it, and tries again (its backoff cut short here), not the watch.
    [owed] = [m for m in flow.local.bot.store.messages() if m.state == "pending"]
    assert owed.key == "watch:1:0"
    while not posts(flow):
        assert flow.deliver_owed() or posts(flow)
    round_(flow)
    assert len(posts(flow)) == 1


def test_a_channel_the_bot_is_not_in_is_given_up_at_once(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.fail_next("chat.postMessage", "not_in_channel")
    fail(airflow)
    round_(flow)
    round_(flow)
    assert posts(flow) == []
    [row] = flow.local.bot.store.watch_events()
    assert (row["state"], row["error"]) == ("undeliverable", "not_in_channel")


def test_clear_from_an_alert_is_authorised_afresh_and_followed(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    fail(airflow)
    round_(flow)
    [alert] = posts(flow)
    mark = len(flow.slack.calls)
    flow.click(alert, "clear", user=VIEWER, channel=ALERTS)
    assert "None of your grants allows `clear`" in flow.told_privately_since(mark)
    assert airflow.writes() == []
    flow.click(alert, "clear", user=ALICE, channel=ALERTS)
    [write] = airflow.writes()
    assert write.path.endswith("/dags/etl_daily/clearTaskInstances")
    thread = [m for m in flow.said(ALERTS) if m.get("thread_ts") == alert["ts"]]
    assert any("Cleared" in visible_text(m) for m in thread)
    # The retry is followed in the alert's thread, as a trigger is.
    [follow] = flow.local.bot.store.follows()
    assert (follow.channel_id, follow.thread_ts) == (ALERTS, alert["ts"])


def test_mark_success_from_an_alert_marks_the_run_and_is_refused_to_a_viewer(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    run_id = fail(airflow)
    round_(flow)
    [alert] = posts(flow)
    mark = len(flow.slack.calls)
    flow.click(alert, "mark", user=VIEWER, channel=ALERTS)
    assert "None of your grants allows `mark`" in flow.told_privately_since(mark)
    assert airflow.writes() == []
    flow.click(alert, "mark", user=ALICE, channel=ALERTS)
    [write] = airflow.writes()
    assert write.method == "PATCH" and write.path.endswith(f"/dagRuns/{run_id}")
    assert airflow.dags["etl_daily"].runs[run_id]["state"] == "success"


def test_more_runs_ending_at_one_instant_than_a_round_reads_hold_up_nothing(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    instant = datetime.now(UTC).isoformat()
    for n in range(201):  # more than the two pages of 100 a round reads
        airflow.add_run("etl_daily", state="failed", dag_run_id=f"burst__{n:03d}", end_date=instant)
    round_(flow)
    round_(flow)
    airflow.add_run("etl_daily", state="failed", dag_run_id="after__the_burst")
    round_(flow)
    # One DAG failing: one incident, every run of it told in its thread, none missed.
    [incident] = posts(flow)
    told = [m["text"] for m in flow.slack.thread(ALERTS, incident["ts"])]
    assert len(told) == 201 and "after__the_burst" in told[-1]
    runs = {t.split()[1] for t in [incident["text"], *told]}  # "Run <run_id> of ..."
    assert len(runs) == 202  # each run once
    assert "Failed 202 times" in incident["text"] and "after__the_burst" in visible_text(incident)


def test_an_alert_refused_once_is_tried_again_not_taken_for_posted(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    # A refusal that is not "invite me" (here invalid_blocks) leaves the event to the watch's
    # own retry: a new message, not the one Slack refused taken for posted.
    from bot.store.schema import watch_event

    flow.slack.fail_next("chat.postMessage", "invalid_blocks")
    fail(airflow)
    round_(flow)
    assert posts(flow) == []
    store = flow.local.bot.store
    with store._db.begin() as conn:  # its retry is due now
        conn.execute(watch_event.update().values(next_try_at=watch_event.c.created_at))
    round_(flow)
    [row] = store.watch_events()
    assert row["state"] == "posted" and not row["message_ts"].startswith("outbox:"), row
    assert len(posts(flow)) == 1
