"""When Slack cannot say who is in a user group (``usergroups.users.list`` answers an error),
the group gives nothing: a grant through it allows nothing, and the asker is told Slack could
not check; an approver group approves nobody. Once Slack answers again, it all works.

Each test starts its own bot, so no group membership is cached from another test.
(A connection lost on the way is test_approval_flow's case.)
"""

from __future__ import annotations

import pytest

from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment

ALICE, DAN, ERIN = "U0ALICE", "U0DAN", "U0ERIN"
OPS, APPROVE = "S0OPS", "S0APPROVE"  # Erin is an operator through OPS; Dan approves through APPROVE
LOOKUP = "usergroups.users.list"
CANNOT_TELL = f"Slack could not tell whether you are in <!subteam^{OPS}> just now"
PAUSE = ("PATCH", "/api/v2/dags/etl_daily")


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    bot = start_flow(f"""
deployments:
  prod: {deployment(airflow)}
  approved: {deployment(airflow, approvers=[APPROVE])}
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: operator, usergroups: [{OPS}]}}
""")
    bot.slack.set_usergroup(OPS, [ERIN])
    return bot


def _writes(airflow: ScriptedAirflow, mark: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in airflow.writes()[mark:]]


def test_a_grant_through_an_unreadable_group_allows_nothing_and_says_why(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.slack.fail_next(LOOKUP, "missing_scope")
    calls = len(flow.slack.calls)
    flow.command("pause prod etl_daily", user=ERIN)
    assert airflow.writes() == []
    assert CANNOT_TELL in flow.told_privately_since(calls)
    [denied] = flow.audit()
    assert (denied.user_id, denied.verb, denied.allowed, denied.outcome) == (
        ERIN, "pause", False, "denied"
    )  # fmt: skip

    flow.command("pause prod etl_daily", user=ERIN)  # Slack answers again
    assert _writes(airflow, 0) == [PAUSE]


def test_a_click_through_an_unreadable_group_is_denied_and_audited(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("list prod etl_daily", user=ERIN)
    listing = flow.with_button("pause")[-1]
    flow.forget_user_groups()
    flow.slack.fail_next(LOOKUP, "missing_scope")
    calls = len(flow.slack.calls)
    flow.click(listing, "pause", user=ERIN)
    assert airflow.writes() == []
    assert CANNOT_TELL in flow.told_privately_since(calls)
    last = flow.audit()[-1]
    assert (last.user_id, last.verb, last.source, last.allowed) == (ERIN, "pause", "button", False)


def test_an_unreadable_approver_group_approves_nobody(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("pause approved etl_daily", user=ALICE)
    prompt = flow.with_button("approve")[-1]
    calls = len(flow.slack.calls)
    flow.click(prompt, "approve", user=DAN)  # Slack answers no_such_subteam for APPROVE
    assert [c.result for c in flow.slack.calls_to(LOOKUP)][-1] == {
        "ok": False, "error": "no_such_subteam"
    }  # fmt: skip
    assert airflow.writes() == []
    assert "Only an approver for `approved` may approve this." in flow.told_privately_since(calls)
    last = flow.audit()[-1]
    assert (last.user_id, last.allowed, last.outcome) == (DAN, False, "denied")

    flow.slack.set_usergroup(APPROVE, [DAN])  # Slack can say who is in it again
    flow.click(prompt, "approve", user=DAN)
    assert _writes(airflow, 0) == [PAUSE]
