"""Many people asking at once: identical reads in flight reach Airflow once, and each asker still
sees only what their own grants allow (bot/airflow/sharing.py, through the real app)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.conversation import visible_text
from testkit.fake_http import Response
from testkit.flow import FlowBot, ScriptedAirflow, deployment, flow_bot

LIST_PATH = "/api/v2/dags"
RUNS_LIST_PATH = "/api/v2/dags/~/dagRuns/list"
# Each user's grants narrow the listing by the same text, "etl_" (commands/list.py): the page
# they ask Airflow for is the same read, and what they may see of it differs.
GRANTS = {
    "U0ALICE": ["etl_d*", "etl_h*"],
    "U0BOB": ["etl_*"],
    "U0DAVE": ["etl_s*", "etl_x*"],
}


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as scripted:
        for dag_id in ("etl_daily", "etl_hourly", "etl_secret", "hr_payroll"):
            scripted.add_dag(dag_id)
        scripted.dags["etl_secret"].runs["scheduled__1"] = {
            "dag_id": "etl_secret",
            "dag_run_id": "scheduled__1",
            "state": "success",
            "logical_date": "2024-01-01T00:00:00+00:00",
            "run_after": "2024-01-01T00:00:00+00:00",
            "start_date": None,
            "end_date": None,
            "run_type": "scheduled",
            "conf": {},
            "note": None,
        }
        scripted.delay = 0.3  # long enough for every command to ask while the call is out
        yield scripted


@pytest.fixture
def flow(tmp_path: Path, airflow: ScriptedAirflow) -> Iterator[FlowBot]:
    grants = "\n".join(
        f"  - {{role: viewer, users: [{user}], dags: {globs}}}" for user, globs in GRANTS.items()
    )
    config = f"""
deployments:
  prod: {deployment(airflow)}
grants:
{grants}
  - {{role: viewer, users: [U0CAROL, U0ERIN, U0FRANK, U0GRACE]}}
"""
    with flow_bot(tmp_path, config) as bot:
        yield bot


def ask_at_once(flow: FlowBot, text: str, users: list[str]) -> dict[str, str]:
    """``/airflow <text>`` from each user in a channel of their own, all acknowledged before
    any is worked on; what each one's thread says, or else what they were told alone."""
    urls = {}
    for user in users:
        channel = f"C0{user[2:]}"
        urls[user] = flow.slack.new_response_url(channel=channel)
        assert (
            flow.local.slash(text, user=user, channel=channel, response_url=urls[user]).status
            == 200
        )
    flow.settle()
    said = {}
    for user in users:
        thread = [visible_text(m) for m in flow.said(f"C0{user[2:]}") if "thread_ts" in m]
        private = [
            visible_text(c.params)
            for c in flow.slack.calls
            if c.method == "response_url" and c.params.get("_response_url") == urls[user]
        ]
        said[user] = "\n".join(thread or private)
    return said


def test_one_listing_call_answers_everyone_each_within_their_own_grants(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    said = ask_at_once(flow, "list prod", list(GRANTS))

    assert len(airflow.http.requests_to("GET", LIST_PATH)) == 1
    assert "etl_daily" in said["U0ALICE"] and "etl_hourly" in said["U0ALICE"]
    assert "etl_secret" not in said["U0ALICE"]
    assert all(dag in said["U0BOB"] for dag in ("etl_daily", "etl_hourly", "etl_secret"))
    assert "etl_secret" in said["U0DAVE"]
    assert "etl_daily" not in said["U0DAVE"] and "etl_hourly" not in said["U0DAVE"]
    assert not any("hr_payroll" in text for text in said.values())
    # The last runs are asked for each asker's own DAGs: no read carries another's.
    asked = sorted(
        sorted(r.json()["dag_ids"]) for r in airflow.http.requests_to("POST", RUNS_LIST_PATH)
    )
    assert asked == [
        ["etl_daily", "etl_hourly"],
        ["etl_daily", "etl_hourly", "etl_secret"],
        ["etl_secret"],
    ]


def test_a_dag_s_runs_are_read_once_for_all_who_may_see_them(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    said = ask_at_once(flow, "status prod etl_secret", ["U0BOB", "U0DAVE", "U0CAROL", "U0ALICE"])

    assert len(airflow.http.requests_to("GET", "/api/v2/dags/etl_secret/dagRuns")) == 1
    for user in ("U0BOB", "U0DAVE", "U0CAROL"):
        assert "scheduled__1" in said[user]
    # Alice may not see it: told so, privately, before anything was asked of Airflow for her.
    assert "etl_secret" in said["U0ALICE"] and "scheduled__1" not in said["U0ALICE"]
    assert flow.said("C0ALICE") == []


def test_a_failed_shared_read_fails_every_waiting_command_with_the_same_answer(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.http.route("GET", LIST_PATH, Response(503, {"detail": "database is down"}, delay=0.3))
    users = ["U0CAROL", "U0ERIN", "U0FRANK", "U0GRACE"]
    said = ask_at_once(flow, "list prod", users)

    # One call, retried twice as every read is, answered all four commands.
    assert len(airflow.http.requests_to("GET", LIST_PATH)) == 3
    answers = set(said.values())
    assert len(answers) == 1
    (answer,) = answers
    assert "Airflow on `prod` is not answering" in answer and "database is down" in answer
