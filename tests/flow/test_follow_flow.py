"""Following the runs the bot triggered: each change is said once in the command's thread, the
end with its failed tasks and a Clear button, the parent message summed up, and a run that
vanished given up on. The follower is driven by the test (``FlowBot.follow_up``), one round at
a time, instead of its background polls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, find_button, flow_config

ALICE = "U0ALICE"
CHANNEL = "C0FLOW"


@pytest.fixture(scope="module")
def airflow(module_airflow: ScriptedAirflow) -> ScriptedAirflow:
    return module_airflow  # and each test adds a DAG of its own


@pytest.fixture(scope="module")
def flow(start_module_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    config = flow_config(airflow, {"prod": {}}, operators=[ALICE])
    return start_module_flow(config, follower="manual")


@dataclass
class Triggered:
    """A run Alice triggered with ``/airflow trigger prod <dag>``, and its thread."""

    flow: FlowBot
    dag_id: str
    run: dict[str, Any]
    parent_ts: str

    def thread(self) -> list[dict[str, Any]]:
        return self.flow.slack.thread(CHANNEL, self.parent_ts)

    def said_in_thread(self) -> list[str]:
        return [visible_text(m) for m in self.thread()]

    def parent(self) -> str:
        return str(self.flow.slack.message(CHANNEL, self.parent_ts)["text"])


@pytest.fixture
def triggered(flow: FlowBot, airflow: ScriptedAirflow) -> Triggered:
    """A DAG of the test's own, triggered; the bot follows its run."""
    dag_id = f"dag_{len(airflow.dags)}"
    airflow.add_dag(dag_id)
    flow.command(f"trigger prod {dag_id}", user=ALICE)
    [run] = airflow.dags[dag_id].runs.values()
    [parent] = [m for m in flow.said() if "thread_ts" not in m and dag_id in m["text"]]
    return Triggered(flow, dag_id, run, str(parent["ts"]))


def _end(airflow: ScriptedAirflow, t: Triggered, state: str, failed: list[str]) -> None:
    airflow.dags[t.dag_id].failed_tasks = failed
    t.run.update(state=state, start_date=t.run["run_after"], end_date=t.run["run_after"])


def test_a_failed_run_is_reported_once_with_its_failed_tasks_and_a_clear_button(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    _end(airflow, triggered, "failed", ["load", "report"])
    flow.follow_up()
    flow.follow_up()  # a second round finds nothing new to say
    ended = [m for m in triggered.thread() if "ended" in visible_text(m)]
    assert len(ended) == 1
    said = visible_text(ended[0])
    assert f"of `{triggered.dag_id}` on `prod` ended :x: failed" in said
    assert "Failed tasks: `load`, `report`" in said
    find_button(ended[0], "clear")
    assert triggered.parent().endswith(":x: run failed after 0s; failed: `load`, `report`")


def test_a_run_that_succeeds_is_reported_once_without_a_clear_button(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    _end(airflow, triggered, "success", [])
    flow.follow_up()
    flow.follow_up()
    ended = [m for m in triggered.thread() if "ended" in visible_text(m)]
    assert len(ended) == 1
    assert "ended :white_check_mark: success" in visible_text(ended[0])
    with pytest.raises(AssertionError, match="no button"):
        find_button(ended[0], "clear")
    assert triggered.parent().endswith(":white_check_mark: run success after 0s")


def test_a_run_that_starts_is_said_once_and_then_its_end(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    triggered.run.update(state="running", start_date=triggered.run["run_after"])
    flow.follow_up()
    flow.follow_up()
    running = [s for s in triggered.said_in_thread() if "is running" in s]
    assert len(running) == 1
    _end(airflow, triggered, "success", [])
    flow.follow_up()
    assert "ended :white_check_mark: success" in triggered.said_in_thread()[-1]


def test_a_run_that_vanished_is_given_up_with_a_message(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    del airflow.dags[triggered.dag_id].runs[triggered.run["dag_run_id"]]
    flow.follow_up()
    gone = f"Stopped following run `{triggered.run['dag_run_id']}`: the run no longer exists"
    assert gone in triggered.said_in_thread()[-1]
    before = len(triggered.thread())
    assert flow.follow_up() == 0  # nothing is followed any more
    assert len(triggered.thread()) == before


def test_a_cleared_run_is_followed_again_to_its_new_end(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    _end(airflow, triggered, "failed", ["load"])
    flow.follow_up()
    failed = [m for m in triggered.thread() if "ended" in visible_text(m)][-1]
    flow.click(failed, "clear", user=ALICE)
    assert "Cleared `load`" in triggered.said_in_thread()[-1]
    _end(airflow, triggered, "success", [])
    flow.follow_up()
    assert "ended :white_check_mark: success" in triggered.said_in_thread()[-1]


def test_two_processes_on_one_store_report_a_run_once(
    flow: FlowBot, airflow: ScriptedAirflow, triggered: Triggered
) -> None:
    other = flow.another_process()
    _end(airflow, triggered, "failed", ["load"])
    other.follow_up()
    flow.follow_up()
    other.follow_up()
    ended = [s for s in triggered.said_in_thread() if "ended" in s]
    assert len(ended) == 1
