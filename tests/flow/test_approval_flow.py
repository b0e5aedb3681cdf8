"""Issue 13, items 3 and 4: four-eyes approval that cannot be fooled or skipped, and the smaller
holes around it. Flow tests: the real bot, the Slack stand-in and a scripted Airflow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(
        f"""
deployments:
  prod: {deployment(airflow)}
  guarded: {deployment(airflow, approvers=[BOB])}
  confirmed: {deployment(airflow, confirm=True)}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: operator, usergroups: [S0OPS]}}
  - {{role: operator, users: [{CAROL}], dags: ["etl_*"]}}
""",
        follower="manual",
    )


# -- item 3: the approver sees everything that will run ------------------------------------


def test_an_approval_shows_the_whole_conf_in_a_code_block(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    conf = {"padding": "x" * 290, "drop_all_tables": True}
    flow.command(f"trigger guarded etl_daily {json.dumps(conf)}")
    [prompt] = flow.with_button("approve")
    shown = visible_text(prompt)
    assert "```" in shown
    assert '"drop_all_tables": true' in shown
    assert "x" * 290 in shown
    assert airflow.writes() == []


def test_a_conf_that_cannot_be_shown_whole_is_refused_before_anything_is_kept(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    # 3,900 characters as typed, but each `<` is shown as `&lt;`: too long to show whole.
    flow.command(f"trigger guarded etl_daily {json.dumps({'q': '<' * 3900})}")
    assert flow.with_button("approve") == []
    assert "cannot be shown whole" in flow.all_text()
    assert airflow.writes() == []
    [entry] = flow.audit()
    assert entry.outcome == "refused: conf too long to show"


# -- item 3: clear goes through the same gate as every other write -------------------------


def _failed_run_message(flow: FlowBot, airflow: ScriptedAirflow) -> dict[str, Any]:
    """Alice triggers on the guarded deployment, Bob approves, the run fails: the follower
    posts the failure with its Clear failed tasks button."""
    flow.command("trigger guarded etl_daily")
    [prompt] = flow.with_button("approve")
    flow.click(prompt, "approve", user=BOB)
    airflow.dags["etl_daily"].failed_tasks = ["load"]
    airflow.end_runs("failed")
    flow.follow_up()
    [failed] = flow.with_button("clear")
    return failed


def test_clear_failed_tasks_waits_for_an_approver(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    failed = _failed_run_message(flow, airflow)
    writes_before = len(airflow.writes())
    flow.click(failed, "clear", user=ALICE)
    assert len(airflow.writes()) == writes_before, "clear reached Airflow without approval"
    prompts = flow.with_button("approve")
    [prompt] = [p for p in prompts if "clear the failed tasks" in visible_text(p)]
    flow.click(prompt, "approve", user=BOB)
    assert airflow.writes()[-1].path.endswith("/dags/etl_daily/clearTaskInstances")


def test_every_write_verb_waits_for_a_click() -> None:
    from commands import REGISTRY

    assert {"trigger", "pause", "unpause", "clear"} <= REGISTRY.writes


# -- item 3: an expired form, a requester who lost the grant -------------------------------


def test_an_expired_trigger_form_triggers_nothing(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    flow.command("list prod")
    [listing, *_] = flow.with_button("trigger_form")
    flow.click(listing, "trigger_form")
    [view] = flow.slack.views.values()
    form_id = str(view["private_metadata"])
    flow.local.bot.store.update_action(form_id, expires_at=datetime.now(UTC) - timedelta(1))
    flow.submit(view, {"conf": {"value": {"type": "plain_text_input", "value": ""}}}, user=ALICE)
    assert airflow.writes() == []
    assert "This form expired" in flow.all_text()


def test_an_approval_does_nothing_for_a_requester_who_lost_the_grant(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.set_usergroup("S0OPS", ["U0DAVE"])
    flow.command("trigger guarded etl_daily", user="U0DAVE")
    [prompt] = flow.with_button("approve")
    flow.slack.set_usergroup("S0OPS", [])  # Dave leaves the group while the request waits
    flow.forget_user_groups()
    flow.click(prompt, "approve", user=BOB)
    assert airflow.writes() == []
    thread = "\n".join(visible_text(m) for m in flow.said())
    assert "Nothing was done: <@U0DAVE> may no longer `trigger` this" in thread
    denied = [e for e in flow.audit() if not e.allowed]
    assert [e.user_id for e in denied] == ["U0DAVE"]


# -- item 4 ---------------------------------------------------------------------------------


def test_did_you_mean_names_only_dags_the_asker_may_see(flow: FlowBot) -> None:
    flow.command("pause prod etl_hr_payroll", user=CAROL)
    said = flow.all_text()
    assert "not found" in said
    assert "hr_payroll`" not in said.replace("etl_hr_payroll`", "")


def test_a_user_group_lookup_lost_on_the_network_is_answered_and_audited(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.set_usergroup("S0OPS", ["U0DAVE"])
    flow.slack.disconnect_next("usergroups.users.list", times=2)  # slack_sdk retries once
    flow.command("pause prod etl_daily", user="U0DAVE")
    assert airflow.writes() == []
    said = flow.all_text()
    assert "could not tell whether you are in" in said
    [entry] = flow.audit()
    assert (entry.user_id, entry.allowed, entry.outcome) == ("U0DAVE", False, "denied")


@pytest.mark.parametrize(
    "conf",
    [
        '{"a": ' + "[" * 1200 + "1" + "]" * 1200 + "}",
        '{"a": "' + "x" * 5000 + '"}',
    ],
    ids=["deep", "huge"],
)
def test_a_deep_or_huge_conf_gets_a_usage_answer(
    flow: FlowBot, airflow: ScriptedAirflow, conf: str
) -> None:
    ack = flow.command(f"trigger prod etl_daily {conf}")
    assert ack.status == 200
    assert "at most 4,000 characters" in ack.json().get("text", "")
    assert "20 levels" in ack.json().get("text", "")
    assert airflow.writes() == []


def test_a_deep_conf_in_the_trigger_form_is_answered_beside_the_field(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("list prod")
    [listing, *_] = flow.with_button("trigger_form")
    flow.click(listing, "trigger_form")
    [view] = flow.slack.views.values()
    deep = '{"a": ' + "[" * 1200 + "1" + "]" * 1200 + "}"
    values = {"conf": {"value": {"type": "plain_text_input", "value": deep}}}
    ack = flow.submit(view, values, user=ALICE)
    assert ack.status == 200
    answer = ack.json()
    assert answer.get("response_action") == "errors"
    assert "20 levels" in answer["errors"]["conf"]
    assert airflow.writes() == []


@pytest.mark.parametrize("run_id", ["..", ".", "a/b", "x" * 251])
def test_a_run_id_airflow_would_not_accept_gets_a_usage_answer(
    flow: FlowBot, airflow: ScriptedAirflow, run_id: str
) -> None:
    ack = flow.command(f"status prod etl_daily {run_id}")
    text = ack.json().get("text", "")
    assert "is not a run id" in text and "manual__2024-01-01T00:00:00+00:00" in text
    assert not any("dagRuns" in r.path for r in airflow.http.requests)
