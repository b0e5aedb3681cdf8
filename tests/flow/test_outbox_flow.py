"""Nothing the bot owes Slack is lost: what Slack does not take now (503, 429, the network) is
kept in the outbox and sent later, once, in order within its thread; what cannot heal falls
back as before; a process told to stop hands the requests it has not started to the next.

The outbox's background loop runs, but the tests do not wait out its backoff: ``deliver_owed``
tries what is owed at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.slack.delivery import EVENT_TYPE
from bot.store.schema import outbox
from testkit.conversation import visible_text
from testkit.flow import CHANNEL, USER, FlowBot, ScriptedAirflow, StartFlow, flow_config


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(flow_config(airflow, {"prod": {}}, operators=[USER]), follower="manual")


def parents(flow: FlowBot) -> list[dict[str, Any]]:
    return [m for m in flow.said() if "thread_ts" not in m]


def deliver_until_quiet(flow: FlowBot) -> None:
    for _ in range(20):
        if not [m for m in flow.local.bot.store.messages() if m.state in ("pending", "sending")]:
            return
        flow.deliver_owed()
    raise AssertionError("the outbox never emptied")


def test_while_slack_fails_the_answer_waits_and_then_comes_once_in_order(flow: FlowBot) -> None:
    # The parent, the reply and the parent's update all fail at first: 503 from Slack.
    flow.slack.server_error_next("chat.postMessage", status=503, times=2)
    flow.command("list prod")
    assert parents(flow) == []
    deliver_until_quiet(flow)
    [parent] = parents(flow)
    assert "ran `/airflow list prod`" in parent["text"]
    [reply] = [m for m in flow.said() if m.get("thread_ts") == parent["ts"]]
    assert "etl_daily" in visible_text(reply)
    assert ":white_check_mark:" in flow.slack.message(CHANNEL, parent["ts"])["text"]
    assert all(m.state == "sent" for m in flow.local.bot.store.messages())


def test_a_rate_limit_is_waited_out_as_slack_asks(flow: FlowBot) -> None:
    flow.slack.rate_limit_next("chat.postMessage", retry_after=30)
    before = datetime.now(UTC)
    flow.command("list prod")
    # The parent waits for Slack; its reply and update wait behind it, in order.
    owed = min(
        (m for m in flow.local.bot.store.messages() if m.state == "pending"), key=lambda m: m.id
    )
    with flow.local.bot.store._db.connect() as conn:
        next_try = conn.execute(outbox.select().where(outbox.c.id == owed.id)).one().next_try_at
    next_try = next_try.replace(tzinfo=UTC) if next_try.tzinfo is None else next_try
    assert next_try - before >= timedelta(seconds=29)  # not before Slack's Retry-After
    deliver_until_quiet(flow)
    assert len(parents(flow)) == 1


def test_what_slack_never_takes_is_given_up_after_the_retry_window(
    flow: FlowBot, caplog: pytest.LogCaptureFixture
) -> None:
    flow.slack.server_error_next("chat.postMessage", status=503, times=100)
    flow.command("list prod")
    store = flow.local.bot.store
    with store._db.begin() as conn:  # the window (OUTBOX_RETRY_MINUTES) has passed
        conn.execute(update(outbox).values(give_up_at=outbox.c.created_at))
    flow.deliver_owed()
    assert {m.state for m in store.messages()} == {"failed"}
    assert "undeliverable" in caplog.text and parents(flow) == []


def test_a_channel_the_bot_may_not_post_in_falls_back_at_once(flow: FlowBot) -> None:
    flow.slack.fail_next("chat.postMessage", "not_in_channel")
    answer = flow.command("list prod")
    assert parents(flow) == []
    told = [c.params for c in flow.slack.calls_to("response_url")]
    assert told and "invite" in visible_text(told[-1]).lower(), answer
    assert not [m for m in flow.local.bot.store.messages() if m.state == "pending"]


def test_a_stopping_process_hands_what_it_has_not_started_to_the_next(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    bot = flow.local.bot
    airflow.delay = 1.0
    gate = threading.Event()
    busy = threading.Event()

    def hold() -> None:
        busy.set()
        gate.wait(30)

    # Every worker busy, so that the commands below wait, acknowledged and not started.
    for _ in range(bot.workers.threads):
        bot.workers.try_submit(hold)
    busy.wait(5)
    for n in range(5):
        flow.deliver(flow.slash_request(f"status prod etl_daily {n}"), settle=False)
    handed = bot.workers.take_unstarted()
    assert len(handed) == 5
    assert bot.journal is not None and bot.journal.release(handed) == 5
    gate.set()
    airflow.delay = 0.0
    second = flow.another_process()
    assert second.local.bot.handover is not None
    assert second.local.bot.handover.pick_up() == 5
    second.settle()
    answered = [m for m in flow.said() if "thread_ts" not in m and "status prod" in m["text"]]
    assert len(answered) == 5
    assert bot.handover is not None and bot.handover.pick_up() == 0  # taken once


@pytest.mark.parametrize("arrived", [True, False], ids=["accepted", "never-arrived"])
def test_a_post_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(
    flow: FlowBot, arrived: bool
) -> None:
    # The connection drops after the request went out: Slack may or may not have the post.
    if arrived:
        flow.slack.accept_then_drop_next("chat.postMessage")
    else:
        flow.slack.disconnect_next("chat.postMessage")
    flow.command("list prod")
    [owed] = [m for m in flow.local.bot.store.messages() if m.unknown]
    deliver_until_quiet(flow)
    [parent] = parents(flow)
    assert parent["ts"] == flow.local.bot.store.message(owed.id).ts  # type: ignore[union-attr]
    counts = flow.slack.event_counts(EVENT_TYPE, "id")
    assert counts and set(counts.values()) == {1}  # every post once
    [reply] = [m for m in flow.said() if m.get("thread_ts") == parent["ts"]]
    assert "etl_daily" in visible_text(reply)


def test_a_lookup_slack_refuses_does_not_drop_the_post_it_was_for(flow: FlowBot) -> None:
    # The lookup's refusal (missing_scope: an app installed before the history scopes, a DM
    # without im:history) is not the post's: it is posted, and its thread with it.
    flow.slack.disconnect_next("chat.postMessage")  # the first try never reached Slack
    flow.slack.fail_next("conversations.history", "missing_scope")
    flow.command("list prod")
    deliver_until_quiet(flow)
    [parent] = parents(flow)
    [reply] = [m for m in flow.said() if m.get("thread_ts") == parent["ts"]]
    assert "etl_daily" in visible_text(reply)
