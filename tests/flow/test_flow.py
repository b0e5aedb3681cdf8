"""The in-process flow harness (testkit.flow) against the real bot: what other flow tests
rely on."""

from __future__ import annotations

import pytest

from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(f"""
deployments:
  prod: {deployment(airflow)}
  guarded: {deployment(airflow, confirm=True)}
grants:
  - {{role: operator, users: [U0ALICE]}}
""")


def test_list_answers_in_the_thread_with_what_airflow_has(flow: FlowBot) -> None:
    ack = flow.command("list prod")
    assert ack.status == 200
    parent, *replies = flow.said()
    assert "ran `/airflow list prod`" in parent["text"]
    text = "\n".join(visible_text(m) for m in replies)
    assert "etl_daily" in text and "hr_payroll" in text


def test_a_confirmed_trigger_reaches_airflow_only_after_the_click(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("trigger guarded etl_daily")
    assert airflow.writes() == []
    [prompt] = [m for m in flow.said() if "thread_ts" in m]
    flow.click(prompt, "confirm")
    [write] = airflow.writes()
    assert write.path == "/api/v2/dags/etl_daily/dagRuns"
    assert len(airflow.dags["etl_daily"].runs) == 1
