"""A signed request delivered twice acts once: a captured request sent again, Slack retrying one
it thinks was lost, or the copy reaching another process of the bot on the same store.

Each probe would act twice without the guard: a trigger starts a run every time, a Runs click
posts the runs every time, and a trigger form starts a run every time it is submitted.
"""

from __future__ import annotations

from typing import Any

import pytest

from testkit.flow import (
    Delivery,
    FlowBot,
    ScriptedAirflow,
    StartFlow,
    find_button,
    flow_config,
)

ALICE = "U0ALICE"
CHANNEL = "C0FLOW"
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture(scope="module")
def airflow(module_airflow: ScriptedAirflow) -> ScriptedAirflow:
    return module_airflow


@pytest.fixture(scope="module")
def flow(start_module_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    config = flow_config(airflow, {"prod": {}}, operators=[ALICE])
    return start_module_flow(config, follower="manual")


def _runs(airflow: ScriptedAirflow) -> int:
    return len(airflow.dags["etl_daily"].runs)


def _deliver_twice(first: FlowBot, again: FlowBot, request: Delivery, **headers: str) -> None:
    answer = first.deliver(request)
    replayed = again.deliver(request, headers=headers)
    assert (answer.status, replayed.status) == (200, 200)


@pytest.mark.parametrize("retry", [False, True], ids=["replayed", "slack-retry"])
def test_a_command_delivered_twice_triggers_once(
    flow: FlowBot, airflow: ScriptedAirflow, retry: bool
) -> None:
    runs, audited, messages = _runs(airflow), len(flow.audit()), len(flow.said())
    request = flow.slash_request("trigger prod etl_daily", user=ALICE)
    _deliver_twice(flow, flow, request, **(RETRY if retry else {}))
    assert _runs(airflow) == runs + 1
    assert len(flow.audit()) == audited + 1
    assert len(flow.said()) == messages + 2  # one parent, one answer in its thread


def test_a_click_delivered_twice_acts_once(flow: FlowBot) -> None:
    flow.command("list prod etl_daily", user=ALICE)
    listing = flow.with_button("runs")[-1]
    audited, messages = len(flow.audit()), len(flow.said())
    click = flow.click_request(listing, find_button(listing, "runs"), user=ALICE, channel=CHANNEL)
    _deliver_twice(flow, flow, click)
    assert len(flow.audit()) == audited + 1
    assert len(flow.said()) == messages + 1


def _trigger_form(flow: FlowBot) -> dict[str, Any]:
    flow.command("list prod etl_daily", user=ALICE)
    before = set(flow.slack.views)
    flow.click(flow.with_button("trigger_form")[-1], "trigger_form", user=ALICE)
    [form] = [v for k, v in flow.slack.views.items() if k not in before]
    return form


def test_a_form_submitted_twice_triggers_once(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    form = _trigger_form(flow)
    runs = _runs(airflow)
    values = {"conf": {"value": {"type": "plain_text_input", "value": '{"n": 1}'}}}
    _deliver_twice(flow, flow, flow.submit_request(form, values, user=ALICE))
    assert _runs(airflow) == runs + 1


def test_a_command_replayed_to_another_process_on_the_store_triggers_once(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    other = flow.another_process()
    runs, audited = _runs(airflow), len(flow.audit())
    _deliver_twice(flow, other, flow.slash_request("trigger prod etl_daily", user=ALICE))
    assert _runs(airflow) == runs + 1
    assert len(flow.audit()) == audited + 1
