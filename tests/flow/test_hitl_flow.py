"""Human-in-the-loop from Slack (Airflow 3.1+): a task waiting for a person is posted once per
subscribed channel, answered with a click (once, however many clicks), refused to those who
may not answer it, and its post says so when it is answered elsewhere.

The watcher is run one round at a time (``Watcher.tick``) against the scripted Airflow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.airflow import AirflowClient
from bot.airflow.hitl import HitlAnswered, hitl_from_json
from bot.core.hitl import claim_id
from bot.store import NewAction
from commands import respond
from testkit.conversation import visible_text
from testkit.flow import TOKEN, FlowBot, ScriptedAirflow, StartFlow, deployment
from tests.flow.test_watch_flow import quiet

ALICE, BOB, VIEWER = "U0ALICE", "U0BOB", "U0VIEW"
HITL, OTHER = "C0HITL", "C0OTHER"
BODY = "## Release\nShip **v2** to <!channel> & [docs](https://example.com/x)?"


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow(version="3.3.2") as scripted:
        scripted.add_dag("etl_daily")
        scripted.add_dag("hr_payroll")
        yield scripted


def config_of(airflow: ScriptedAirflow) -> str:
    return f"""
deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{ALICE}, {BOB}]}}
  - {{role: viewer, users: [{VIEWER}]}}
subscriptions:
  - {{channel: {HITL}, deployment: prod, dags: ["etl_*"], events: [hitl]}}
  - {{channel: {OTHER}, deployment: prod, dags: ["*"], events: [failed, hitl]}}
airflow_users:
  {ALICE}: alice
  {BOB}: bob
"""


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> Iterator[FlowBot]:
    bot = start_flow(config_of(airflow), {"WATCH_INTERVAL_SECONDS": "3600"})
    quiet(bot).tick()
    yield bot


def round_(flow: FlowBot) -> None:
    flow.local.bot.watcher.tick()
    flow.settle()


def posts(flow: FlowBot, channel: str = HITL) -> list[dict[str, Any]]:
    return [m for m in flow.said(channel) if "thread_ts" not in m]


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        str(e.get("action_id"))
        for b in message.get("blocks") or []
        for e in b.get("elements") or []
        if isinstance(e, dict) and e.get("type") == "button"
    ]


def test_a_waiting_task_is_posted_once_per_channel_across_two_processes(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    second = flow.another_process()
    quiet(second)
    airflow.add_hitl("etl_daily", body=BODY, defaults=["Reject"],
                     assigned_users=[{"id": "alice", "name": "alice"}])  # fmt: skip
    for _ in range(3):
        second.local.bot.watcher.tick()
        round_(flow)
    [post] = posts(flow, HITL)
    assert len(posts(flow, OTHER)) == 1
    text = visible_text(post)
    assert "Ship it?" in text and "etl_daily" in text and "approve" in text
    assert "*Release*" in text and "*v2*" in text and "docs (https://example.com/x)" in text
    assert "&lt;!channel&gt; &amp;" in str(post["blocks"])  # escaped: no ping
    assert "`alice`" in text and "Airflow takes `Reject`" in text
    assert buttons(post) == ["respond", "respond", "open_link"]


def test_a_click_answers_once_for_a_double_click_and_two_people(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_hitl("etl_daily")
    round_(flow)
    [post] = posts(flow)
    flow.click_at_once(post, "respond", users=[ALICE, ALICE, BOB], channel=HITL)
    [patch] = airflow.hitl_patches()
    assert patch.json() == {"chosen_options": ["Approve"], "params_input": {}}
    [answered] = posts(flow)
    assert f"<@{ALICE}> chose `Approve`" in visible_text(answered) or (
        f"<@{BOB}> chose `Approve`" in visible_text(answered)
    )
    assert buttons(answered) == []
    entries = [e for e in flow.audit() if e.verb == "respond"]
    assert entries and all(e.user_id in (ALICE, BOB) for e in entries)
    [sent] = [e for e in entries if e.ok]  # recorded with the Slack user, the task and option
    assert sent.conf and sent.conf["chosen_options"] == ["Approve"] and sent.dag_id == "etl_daily"
    assert sent.conf["task_id"] == "approve" and "answered `Approve`" in (sent.outcome or "")
    # The next round sees it gone: the other channel's post says who answered, buttons gone.
    round_(flow)
    [other] = posts(flow, OTHER)
    assert "chose `Approve`" in visible_text(other) and buttons(other) == []


def test_a_click_the_moment_a_task_parks_is_held_until_it_has_waited_a_little(
    flow: FlowBot, airflow: ScriptedAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Airflow fails a task answered within moments of its parking (respond.PARKED_FOR_S says why).
    monkeypatch.setattr(respond, "PARKED_FOR_S", 1.5)
    parked = datetime.now(UTC)
    airflow.add_hitl("etl_daily", created_at=parked.isoformat())
    round_(flow)
    flow.click(posts(flow)[0], "respond", user=ALICE, channel=HITL)
    [patch] = airflow.hitl_patches()
    assert patch.at - parked >= timedelta(seconds=1.5)
    assert f"<@{ALICE}> chose `Approve`" in visible_text(posts(flow)[0])


def test_a_viewer_and_an_unassigned_user_are_refused_and_nothing_is_sent(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_hitl("etl_daily", assigned_users=[{"id": "alice", "name": "alice"}])
    round_(flow)
    [post] = posts(flow)
    mark = len(flow.slack.calls)
    flow.click(post, "respond", user=VIEWER, channel=HITL)
    assert "None of your grants allows `respond`" in flow.told_privately_since(mark)
    mark = len(flow.slack.calls)
    flow.click(post, "respond", user=BOB, channel=HITL, label="Reject")
    told = flow.told_privately_since(mark)
    assert "assigned to `alice`" in told and "`bob`" in told and "nothing was sent" in told
    assert airflow.hitl_patches() == []
    [still] = posts(flow)
    assert buttons(still) == ["respond", "respond", "open_link"]
    flow.click(post, "respond", user=ALICE, channel=HITL, label="Reject")
    [patch] = airflow.hitl_patches()
    assert patch.json()["chosen_options"] == ["Reject"]


def test_answered_in_airflow_the_post_says_so_and_a_late_click_is_told(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    first = airflow.add_hitl("etl_daily")
    second = airflow.add_hitl("etl_daily", task_id="sign_off")
    round_(flow)
    _, new = posts(flow)
    airflow.answer_hitl(first, ["Approve"], by="carol")
    airflow.answer_hitl(second, ["Reject"], by="dave")
    mark = len(flow.slack.calls)
    flow.click(new, "respond", user=ALICE, channel=HITL)  # before the watch noticed
    told = flow.told_privately_since(mark)
    assert "already answered by `dave`" in told and "nothing was sent" in told
    round_(flow)
    for post in posts(flow):
        assert "no longer waits" in visible_text(post) and buttons(post) == []
    assert airflow.hitl_patches() == []


def test_airflow_refusing_an_answer_says_who_answered_first(airflow: ScriptedAirflow) -> None:
    detail = airflow.add_hitl("etl_daily")
    airflow.answer_hitl(detail, ["Reject"], by="carol")
    client = AirflowClient(base_url=airflow.url, token=TOKEN, api_version="v2", name="prod")
    ti = detail["task_instance"]
    with pytest.raises(HitlAnswered) as refused:
        client.hitl_respond("etl_daily", ti["dag_run_id"], "approve", -1, ["Approve"])
    assert refused.value.by == "carol" and refused.value.at is not None
    assert len(airflow.hitl_patches()) == 1  # never retried


def test_inbox_shows_what_the_asker_may_answer(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    airflow.add_hitl("etl_daily", subject="Ship etl?")
    airflow.add_hitl("hr_payroll", subject="Pay?", assigned_users=[{"id": "bob", "name": "bob"}])
    mark = len(flow.slack.calls)
    flow.command("inbox prod", user=ALICE)
    told = flow.told_privately_since(mark)
    assert "Ship etl?" in told and "Pay?" not in told
    [reply] = [c.params for c in flow.slack.calls[mark:] if c.method == "response_url"]
    values = [e["value"] for b in reply["blocks"] for e in b.get("elements", [])
              if e.get("action_id") == "respond"]  # fmt: skip
    assert len(values) == 2 and all(flow.local.bot.store.action(v) for v in values)  # sealed
    mark = len(flow.slack.calls)
    flow.command("inbox prod", user=VIEWER)
    assert "Nothing on `prod` is waiting" in flow.told_privately_since(mark)


def test_a_channel_subscribes_to_hitl_and_hears_from_now(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("subscribe prod hr_* hitl", user=ALICE, channel="C0NEW")
    airflow.add_hitl("hr_payroll")
    round_(flow)
    [post] = [p for p in posts(flow, "C0NEW") if "Waiting for a person" in visible_text(p)]
    assert "hr_payroll" in visible_text(post)


@pytest.mark.parametrize("version", ["3.0.6", "2.11.0"])
def test_before_airflow_31_subscribe_and_inbox_refuse_naming_the_version(
    start_flow: StartFlow, version: str
) -> None:
    with ScriptedAirflow(version=version) as old:
        old.add_dag("etl_daily")
        flow = start_flow(config_of(old), {"WATCH_INTERVAL_SECONDS": "3600"})
        quiet(flow).tick()
        for text in ("subscribe prod etl_* hitl", "inbox prod"):
            mark = len(flow.slack.calls)
            flow.command(text, user=ALICE, channel="C0NEW")
            said = flow.all_text()[-3000:] + flow.told_privately_since(mark)
            assert "need Airflow 3.1 or later" in said and f"`{version}`" in said
        assert not [r for r in old.http.requests if "hitlDetails" in r.path]


PARAMS = {
    "count": {"value": 2, "description": "How many", "schema": {"type": "integer"}},
    "region": {"value": "eu", "description": None, "schema": {"type": "string",
                                                              "enum": ["eu", "us"]}},
}  # fmt: skip


def test_several_options_and_typed_params_are_answered_through_the_form(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_hitl("etl_daily", task_id="choose", options=["a", "b", "c"], multiple=True,
                     defaults=["a"], params=PARAMS)  # fmt: skip
    round_(flow)
    [post] = posts(flow)
    assert buttons(post) == ["respond_form", "open_link"]
    before = set(flow.slack.views)
    flow.click(post, "respond_form", user=ALICE, channel=HITL)
    [form] = [v for k, v in flow.slack.views.items() if k not in before]
    ids = [b.get("block_id") for b in form["blocks"]]
    assert ids[1:] == ["options", "param:integer:count", "param:string:region"]
    picked = {"options": {"value": {"type": "checkboxes",
                                    "selected_options": [{"value": "a"}, {"value": "c"}]}},
              "param:string:region": {"value": {"type": "static_select",
                                                "selected_option": {"value": "us"}}}}  # fmt: skip
    bad = {**picked, "param:integer:count": {"value": {"type": "plain_text_input", "value": "x"}}}
    answer = flow.submit(form, bad, user=ALICE).json()
    assert answer["response_action"] == "errors" and list(answer["errors"]) == [
        "param:integer:count"
    ]
    assert airflow.hitl_patches() == []
    good = {**picked, "param:integer:count": {"value": {"type": "plain_text_input", "value": "5"}}}
    flow.submit(form, good, user=ALICE)
    [patch] = airflow.hitl_patches()
    assert patch.json() == {"chosen_options": ["a", "c"],
                            "params_input": {"count": 5, "region": "us"}}  # fmt: skip
    round_(flow)  # the post says who chose what once the watch sees it answered
    [answered] = posts(flow)
    assert f"<@{ALICE}> chose `a, c`" in visible_text(answered) and buttons(answered) == []


def test_a_viewer_cannot_open_the_form(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    airflow.add_hitl("etl_daily", options=["a", "b"], multiple=True)
    round_(flow)
    [post] = posts(flow)
    before, mark = set(flow.slack.views), len(flow.slack.calls)
    flow.click(post, "respond_form", user=VIEWER, channel=HITL)
    assert set(flow.slack.views) == before
    assert "None of your grants allows `respond`" in flow.told_privately_since(mark)


@pytest.mark.parametrize("minutes_ago", [0, 5])
def test_a_claim_left_by_a_dead_process_is_taken_over_only_once_stale(
    flow: FlowBot, airflow: ScriptedAirflow, minutes_ago: int
) -> None:
    detail = airflow.add_hitl("etl_daily")
    round_(flow)
    [post] = posts(flow)
    store, claim = flow.local.bot.store, claim_id("prod", hitl_from_json(detail))
    left = NewAction(verb="respond", state="ready", user_id="U0DEAD", channel_id=HITL,
                     ttl_seconds=3600)  # fmt: skip
    then = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    assert store.claim_once(claim, left, from_state="ready", to_state="answering",
                            decided_at=then, confirmed_by="U0DEAD", outcome="Reject")  # fmt: skip
    mark = len(flow.slack.calls)
    flow.click(post, "respond", user=ALICE, channel=HITL)
    if minutes_ago:
        assert len(airflow.hitl_patches()) == 1
    else:
        assert airflow.hitl_patches() == []
        assert "<@U0DEAD> is answering it" in flow.told_privately_since(mark)
