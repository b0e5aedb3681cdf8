"""Human-in-the-loop against a real Airflow 3.3 with its scheduler: an ApprovalOperator's task
waits, the subscribed channel gets its post, and Approve from Slack lets the run go on to
success; Reject skips what comes after it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.tools.localslack import SlackStandin
from bot.tools.signing import block_actions_body, post_signed, view_submission_body
from testkit import airflow_harness
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import visible_text
from tests.conftest import E2E_ENV

pytestmark = pytest.mark.airflow
CHANNEL, ALICE = "C0HITLE2E", "U0ALICE"
INTERVAL = 2
DAG, FORM_DAG = "approval_gate", "approval_form"


@pytest.fixture(scope="module")
def airflow3() -> Iterator[AirflowServer]:
    server = airflow_harness.start(3, scheduler=True)
    for dag in (DAG, FORM_DAG):
        AirflowProbe(server).set_paused(dag, False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bot(
    airflow3: AirflowServer, slack: SlackStandin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    config = f"""
deployments:
  af: {{url: "{airflow3.url}", username: admin, password: "${{AF_PASSWORD}}"}}
grants:
  - {{role: operator, users: [{ALICE}]}}
subscriptions:
  - {{channel: {CHANNEL}, deployment: af, dags: ["approval_*"], events: [hitl]}}
"""
    process = BotProcess(workdir=tmp_path_factory.mktemp("hitl"), config=config,
                         slack_api_url=slack.api_url,
                         env={**E2E_ENV, "WATCH_INTERVAL_SECONDS": str(INTERVAL)})  # fmt: skip
    with process:
        yield process


def wait(what: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("nothing came")


def post_of(slack: SlackStandin, run_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.messages.get(CHANNEL, [])
        if "thread_ts" not in m and run_id in visible_text(m)
    ]


def click(
    bot: BotProcess,
    slack: SlackStandin,
    message: dict[str, Any],
    label: str,
    action: str = "respond",
) -> None:
    [(block, button)] = [
        (b, e)
        for b in message["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == action and e["text"]["text"] == label
    ]
    url = slack.new_response_url(channel=CHANNEL, message_ts=message["ts"])
    body = block_actions_body(
        message_ts=message["ts"], action_id=action, value=button["value"], response_url=url,
        user_id=ALICE, channel_id=CHANNEL, block_id=block.get("block_id") or "actions",
        message=message, button_text=label,
    )  # fmt: skip
    assert post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET) == (200, "")


def ended(probe: AirflowProbe, run_id: str, dag: str = DAG) -> dict[str, Any] | None:
    run = probe.run(dag, run_id)
    return run if run["state"] in ("success", "failed") else None


def task_states(probe: AirflowProbe, run_id: str) -> dict[str, str]:
    path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances"
    tis = probe.get(path.replace("+", "%2B").replace(":", "%3A"))["task_instances"]
    return {t["task_id"]: t["state"] for t in tis}


@pytest.mark.parametrize("label", ["Approve", "Reject"])
def test_answered_from_slack_the_run_goes_on(
    bot: BotProcess, slack: SlackStandin, airflow3: AirflowServer, label: str, tmp_path: Path
) -> None:
    probe = AirflowProbe(airflow3)
    run_id = probe.trigger(DAG)
    [post] = wait(lambda: post_of(slack, run_id))
    assert "Ship the release?" in visible_text(post) and "*v2*" in visible_text(post)
    click(bot, slack, post, label)
    run = wait(lambda: ended(probe, run_id))
    states = task_states(probe, run_id)
    # Airflow's own logs say why it failed a task (the scheduler's, for a task failed unstarted).
    if label == "Approve":
        assert run["state"] == "success" and states["ship"] == "success", (states, airflow3.logs())
    else:
        assert states["ship"] == "skipped", (states, airflow3.logs())
    [answered] = post_of(slack, run_id)
    assert f"<@{ALICE}> chose `{label}`" in visible_text(answered)
    assert not [e for b in answered["blocks"] for e in b.get("elements", [])
                if e.get("action_id") == "respond"]  # fmt: skip


def test_a_form_answers_several_options_and_typed_params(
    bot: BotProcess, slack: SlackStandin, airflow3: AirflowServer
) -> None:
    probe = AirflowProbe(airflow3)
    run_id = probe.trigger(FORM_DAG)
    [post] = wait(lambda: post_of(slack, run_id))
    click(bot, slack, post, "Answer…", action="respond_form")
    opened = slack.wait_for("views.open", timeout=30)[-1].params
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    values: dict[str, dict[str, dict[str, Any]]] = {
        "options": {"value": {"type": "checkboxes",
                              "selected_options": [{"value": "eu"}, {"value": "ap"}]}},
        "param:integer:count": {"value": {"type": "plain_text_input", "value": "7"}},
    }  # fmt: skip
    body = view_submission_body(callback_id=view["callback_id"], values=values, user_id=ALICE,
                                private_metadata=view["private_metadata"])  # fmt: skip
    assert post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET)[0] == 200
    run = wait(lambda: ended(probe, run_id, FORM_DAG))
    assert run["state"] == "success", airflow3.logs()
    path = f"/dags/{FORM_DAG}/dagRuns/{run_id}/taskInstances/choose/xcomEntries/return_value"
    result = probe.get(path.replace("+", "%2B").replace(":", "%3A"))["value"]
    result = json.loads(result) if isinstance(result, str) else result
    assert result["chosen_options"] == ["eu", "ap"] and result["params_input"] == {"count": 7}
