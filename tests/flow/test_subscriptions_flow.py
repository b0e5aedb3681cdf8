"""``/airflow subscribe``, ``unsubscribe`` and ``subscriptions``: what a channel watches, who may
change it, and the subscriptions kept in the config file."""

from __future__ import annotations

from datetime import time

import pytest

from bot.config import Deadline, WatchOptions
from testkit.conversation import visible_text
from testkit.flow import CHANNEL, FlowBot, ScriptedAirflow, StartFlow, deployment

ALICE, LIMITED, VIEWER = "U0ALICE", "U0LIMIT", "U0VIEW"
ALERTS = "C0ALERTS"


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(f"""
deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: operator, users: [{LIMITED}], dags: ["etl_*"]}}
  - {{role: viewer, users: [{VIEWER}]}}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["hr_*"], events: [failed, success]}}
""")


def said(flow: FlowBot, text: str, *, user: str = ALICE, channel: str = CHANNEL) -> str:
    """What the bot answered ``/airflow <text>``: in the thread, or privately."""
    mark = len(flow.slack.calls)
    assert flow.command(text, user=user, channel=channel).status == 200
    flow.settle()
    return "\n".join(visible_text(c.params) for c in flow.slack.calls[mark:])


def test_a_subscription_is_made_listed_changed_and_removed(flow: FlowBot) -> None:
    made = said(flow, "subscribe prod etl_*")
    assert "now hears about DAGs matching `etl_*` on `prod`, from now on: `failed`." in made
    assert "Everyone in the channel sees these posts" in made
    assert "`etl_*` on `prod`: `failed` (by <@U0ALICE>)" in said(flow, "subscriptions")
    changed = said(flow, "subscribe prod etl_* failed success")
    assert "now hears instead" in changed and "`failed` and `success`" in changed
    assert "`failed`, `success`" in said(flow, "subscriptions")
    assert "no longer hears about runs of DAGs matching `etl_*`" in said(
        flow, "unsubscribe prod etl_*"
    )
    assert "This channel has no subscriptions." in said(flow, "subscriptions")
    assert "has no subscription to `etl_*` on `prod`" in said(flow, "unsubscribe prod etl_*")


def test_subscriptions_are_per_channel(flow: FlowBot) -> None:
    said(flow, "subscribe prod etl_daily")
    assert "has no subscriptions" in said(flow, "subscriptions", channel="C0OTHER")


def test_a_subscription_from_the_config_cannot_be_removed_from_slack(flow: FlowBot) -> None:
    listed = said(flow, "subscriptions", channel=ALERTS)
    assert "`hr_*` on `prod`: `failed`, `success` (in the config file)" in listed
    refused = said(flow, "unsubscribe prod hr_*", channel=ALERTS)
    assert "kept in the bot's config file" in refused and "remove it there" in refused
    assert "`hr_*` on `prod`" in said(flow, "subscriptions", channel=ALERTS)
    assert "change it there" in said(flow, "subscribe prod hr_* success", channel=ALERTS)


def test_a_pattern_must_lie_within_the_askers_own(flow: FlowBot) -> None:
    refused = said(flow, "subscribe prod *", user=LIMITED)
    assert "You may `subscribe` only DAGs matching `etl_*`" in refused
    assert "`*` may match others" in refused
    assert "has no subscriptions" in said(flow, "subscriptions", user=LIMITED)
    assert "now hears" in said(flow, "subscribe prod etl_daily*", user=LIMITED)
    assert "now hears" in said(flow, "subscribe prod etl_x", user=LIMITED)
    assert "may match others" in said(flow, "unsubscribe prod hr_*", user=LIMITED)


def test_a_limited_user_sees_only_the_subscriptions_on_their_dags(flow: FlowBot) -> None:
    said(flow, "subscribe prod *")
    said(flow, "subscribe prod etl_daily")
    listed = said(flow, "subscriptions", user=LIMITED)
    assert "`etl_daily` on `prod`" in listed
    assert "`*` on `prod`" not in listed
    assert "1 more on DAGs you may not see" in listed


def test_a_viewer_may_list_but_not_subscribe(flow: FlowBot) -> None:
    assert "None of your grants allows `subscribe`" in said(
        flow, "subscribe prod etl_*", user=VIEWER
    )
    assert "has no subscriptions" in said(flow, "subscriptions", user=VIEWER)
    denied = [e for e in flow.audit() if e.verb == "subscribe" and not e.allowed]
    assert [e.user_id for e in denied] == [VIEWER]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("subscribe prod", "`subscribe` needs a DAG id or a pattern"),
        ("subscribe prod etl_* failures", "`failures` is not an event"),
        ("subscribe prod etl<x>", "is not a DAG id or pattern"),
        ("unsubscribe prod etl_* failed", "`unsubscribe` takes one DAG pattern"),
        ("subscriptions prod", "`subscriptions` takes no arguments"),
    ],
)
def test_mistakes_are_answered_with_the_right_form(flow: FlowBot, text: str, answer: str) -> None:
    told = str(flow.command(text).json().get("text"))
    assert answer in told
    assert "Usage: `/airflow " in told


def test_the_silent_trouble_events_are_made_and_listed_with_their_limits(flow: FlowBot) -> None:
    made = said(flow, "subscribe prod etl_* long=30m queued late=09:00/Europe/Berlin import_errors")
    assert (
        "now hears about DAGs matching `etl_*` on `prod`, from now on: `long` (over 30m), "
        "`queued` (over 15m), `late` (by 09:00 Europe/Berlin) and `import_errors` (DAG files "
        "matching the pattern)."
    ) in made
    assert (
        "`etl_*` on `prod`: `long` (over 30m), `queued` (over 15m), `late` (by 09:00 "
        "Europe/Berlin), `import_errors` (DAG files matching the pattern) (by <@U0ALICE>)"
    ) in said(flow, "subscriptions")
    [stored] = flow.local.bot.store.subscriptions(channel_id=CHANNEL)
    assert stored.options == WatchOptions(
        long_after=1800.0, late=Deadline(at=time(9, 0), zone="Europe/Berlin")
    )
    # Subscribing again replaces the events and their limits.
    changed = said(flow, "subscribe prod etl_* failed long")
    assert "now hears instead" in changed
    assert "`failed` and `long` (twice the usual duration, at least 10m; none for a DAG" in changed
    listed = said(flow, "subscriptions")
    assert (
        "`etl_*` on `prod`: `failed`, `long` (twice the usual duration, at least 10m; none"
        in listed
    )
    assert "late" not in listed


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("subscribe prod etl_* long=5x", "`5x` is not a duration (in `long=5x`): write a number"),
        ("subscribe prod etl_* late=25:00", "`25:00` is not a time of day (in `late=25:00`)"),
        (
            "subscribe prod etl_* late=09:00/Mars/Base",
            "`Mars/Base` is not a time zone (in `late=09:00/Mars/Base`): write an IANA time zone",
        ),
        ("subscribe prod etl_* late", "`late` needs a time: write `late=09:00` (UTC)"),
        ("subscribe prod etl_* digest=09:00", "`digest=09:00` is not an event"),
    ],
)
def test_a_bad_limit_is_answered_privately_with_the_right_form(
    flow: FlowBot, text: str, answer: str
) -> None:
    mark = len(flow.slack.calls)
    response = flow.command(text)
    flow.settle()
    told = response.json()
    assert told.get("response_type", "ephemeral") == "ephemeral"
    assert answer in str(told.get("text"))
    assert (
        "Usage: `/airflow subscribe [&lt;deployment&gt;] &lt;dag-glob&gt; [&lt;event&gt;...]`"
        in str(told.get("text"))
    )
    assert not [c for c in flow.slack.calls[mark:] if c.method == "chat.postMessage"]  # no thread
    assert "has no subscriptions" in said(flow, "subscriptions")


def test_hitl_on_airflow_30_is_refused_naming_its_version(flow: FlowBot) -> None:
    told = said(flow, "subscribe prod etl_* hitl")  # the scripted Airflow is 3.0.6
    assert "need Airflow 3.1 or later" in told and "`3.0.6`" in told
    assert "has no subscriptions" in said(flow, "subscriptions")
