"""A confirmation or an approval lends no rights: when the click lands, the requester's own grants
are checked again, under the config the bot has then. Dave asks while granted; the bot is
restarted with a config that no longer grants him (another process on the same store and Slack);
the confirm or approve click reaches that process. Nothing reaches Airflow, the thread says why,
and the audit trail records the denial as Dave's.

(Losing a grant given through a user group is test_approval_flow's case.)
"""

from __future__ import annotations

import pytest

from testkit.conversation import visible_text
from testkit.flow import ScriptedAirflow, StartFlow, deployment

ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
CHANNEL = "C0FLOW"
CONFIG = """
deployments:
  confirmed: {confirmed}
  approved: {approved}
grants:
  - {{role: operator, users: [{ALICE}, {CAROL}]}}
{dave}
"""
GRANTS_NOW = {
    "removed": ("", "You have no permissions in this bot."),
    "narrowed": (
        f'  - {{role: operator, users: [{DAVE}], dags: ["hr_*"]}}',
        "You may `trigger` on `{dep}` only DAGs matching `hr_*`; `etl_daily` is not one.",
    ),
}


@pytest.mark.parametrize("now", list(GRANTS_NOW))
@pytest.mark.parametrize(("dep", "decision", "decider"), [
    ("confirmed", "confirm", CAROL), ("approved", "approve", BOB),
])  # fmt: skip
def test_a_decision_does_nothing_for_a_requester_no_longer_granted(
    start_flow: StartFlow,
    airflow: ScriptedAirflow,
    now: str,
    dep: str,
    decision: str,
    decider: str,
) -> None:
    def config(dave: str) -> str:
        return CONFIG.format(
            confirmed=deployment(airflow, confirm=True),
            approved=deployment(airflow, approvers=[BOB]),
            ALICE=ALICE, CAROL=CAROL, dave=dave,
        )  # fmt: skip

    before = start_flow(config(f"  - {{role: operator, users: [{DAVE}]}}"))
    before.command(f"trigger {dep} etl_daily", user=DAVE)
    prompt = before.with_button(decision)[-1]

    grant, reason = GRANTS_NOW[now]
    after = before.another_process(config(grant))
    after.click(prompt, decision, user=decider)

    assert airflow.writes() == []
    outcome = visible_text(after.slack.message(CHANNEL, prompt["ts"]))
    assert f"Nothing was done: <@{DAVE}> may no longer `trigger` this." in outcome
    assert reason.format(dep=dep) in outcome
    parent = after.slack.message(CHANNEL, prompt["thread_ts"])
    assert parent["text"].endswith(":x: denied: the requester may no longer do this")
    denied = [e for e in after.audit() if not e.allowed]
    assert [(e.user_id, e.verb) for e in denied] == [(DAVE, "trigger")]
    assert str(denied[0].error).startswith("the requester may no longer do this: ")
