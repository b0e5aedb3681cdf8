"""The trigger form a list's Trigger… button opens: its mistakes shown beside the field, a good
submission triggering once (through confirm where the deployment asks for it), and the run it
started followed in the list's thread."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, flow_config

ALICE = "U0ALICE"
CHANNEL = "C0FLOW"
TRIGGER = ("POST", "/api/v2/dags/etl_daily/dagRuns")


@pytest.fixture(scope="module")
def airflow(module_airflow: ScriptedAirflow) -> ScriptedAirflow:
    return module_airflow


@pytest.fixture(scope="module")
def flow(start_module_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    config = flow_config(airflow, {"plain": {}, "confirmed": {"confirm": True}}, operators=[ALICE])
    return start_module_flow(config, follower="manual")


def _open_form(flow: FlowBot, dep: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice lists ``etl_daily`` on ``dep`` and clicks Trigger…: the list, and the form."""
    flow.command(f"list {dep} etl_daily", user=ALICE)
    listing = flow.with_button("trigger_form")[-1]
    before = set(flow.slack.views)
    flow.click(listing, "trigger_form", user=ALICE)
    [opened] = [v for k, v in flow.slack.views.items() if k not in before]
    return listing, opened


def _values(conf: str = "", picked: object = None) -> dict[str, Any]:
    values: dict[str, Any] = {"conf": {"value": {"type": "plain_text_input", "value": conf}}}
    if picked is not None:
        values["logical_date"] = {"value": {"type": "datetimepicker", "selected_date_time": picked}}
    return values


def _triggers(airflow: ScriptedAirflow, mark: int) -> list[dict[str, Any]]:
    return [r.json() for r in airflow.writes()[mark:] if (r.method, r.path) == TRIGGER]


@pytest.mark.parametrize(
    ("conf", "picked", "field"),
    [
        ('{"full_refresh": }', None, "conf"),
        ("[1, 2]", None, "conf"),
        ("full_refresh=true", None, "conf"),
        ("", "not a time", "logical_date"),
    ],
    ids=["bad-json", "not-an-object", "not-json", "bad-date"],
)
def test_a_mistake_is_shown_beside_its_field_and_nothing_is_triggered(
    flow: FlowBot, airflow: ScriptedAirflow, conf: str, picked: object, field: str
) -> None:
    _, form = _open_form(flow, "plain")
    mark = len(airflow.writes())
    answer = flow.submit(form, _values(conf, picked), user=ALICE).json()
    assert answer.get("response_action") == "errors"
    assert list(answer["errors"]) == [field]
    assert answer["errors"][field].strip()
    assert _triggers(airflow, mark) == []


def test_a_good_form_triggers_once_and_the_run_is_followed_in_the_thread(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    listing, form = _open_form(flow, "plain")
    mark = len(airflow.writes())
    picked = datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    answer = flow.submit(form, _values('{"full_refresh": true}', int(picked.timestamp())),
                         user=ALICE)  # fmt: skip
    assert answer.status == 200 and answer.json() == {}  # the form closes
    [sent] = _triggers(airflow, mark)
    assert sent["conf"] == {"full_refresh": True}
    assert datetime.fromisoformat(sent["logical_date"]) == picked
    thread = flow.slack.thread(CHANNEL, listing["thread_ts"])
    assert "Triggered" in visible_text(thread[-1])

    airflow.end_runs("success")
    flow.follow_up()
    ended = visible_text(flow.slack.thread(CHANNEL, listing["thread_ts"])[-1])
    assert f"|{sent['dag_run_id']}> of `etl_daily` on `plain` ended" in ended
    assert ":white_check_mark: success" in ended


def test_a_form_on_a_confirm_deployment_asks_first(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    _, form = _open_form(flow, "confirmed")
    mark = len(airflow.writes())
    flow.submit(form, _values('{"table": "orders"}'), user=ALICE)
    assert _triggers(airflow, mark) == []
    prompt = flow.with_button("confirm")[-1]
    assert json.dumps({"table": "orders"}, indent=2) in visible_text(prompt)
    flow.click(prompt, "confirm", user=ALICE)
    assert [t["conf"] for t in _triggers(airflow, mark)] == [{"table": "orders"}]


def test_a_form_that_asks_first_is_audited_as_the_askers(flow: FlowBot) -> None:
    _, form = _open_form(flow, "confirmed")
    audited = len(flow.audit())
    flow.submit(form, _values(), user=ALICE)
    asked = [(e.user_id, e.verb, e.allowed) for e in flow.audit()[audited:]]
    assert asked == [(ALICE, "trigger", True)]
