"""The real-Airflow harness gives working, authenticated servers with the test DAGs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from testkit.airflow_harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    AIRFLOW_VERSIONS,
    VIEWER_PASSWORD,
    VIEWER_USER,
    AirflowServer,
    start,
)

TEST_DAGS = {
    "always_fails",
    "etl_daily",
    "etl_hourly",
    "fails_when_asked",
    "logs_then_fails",
    "manual_only",
    "pause_target_a",
    "pause_target_b",
    "quick_success",
    "reporting_weekly",
    "silent_never",
    "silent_slow",
}
HITL_DAGS = {"approval_gate", "approval_form"}  # the human-in-the-loop operators are Airflow 3.1+'s


def listed_dags(server: AirflowServer) -> set[str]:
    """The test DAGs this server lists."""
    return TEST_DAGS | (HITL_DAGS if server.major == 3 else set())


class Api:
    """Just enough of a REST client to check the servers, independent of the bot's client."""

    def __init__(self, server: AirflowServer, user: str, password: str) -> None:
        self.server = server
        self.base = f"{server.url}/api/v{1 if server.major == 2 else 2}"
        self.session = requests.Session()
        # A proxy from the environment must not sit between the tests and 127.0.0.1.
        self.session.trust_env = False
        if server.major == 2:
            self.session.auth = (user, password)
        else:
            response = self.session.post(
                f"{server.url}/auth/token",
                json={"username": user, "password": password},
                timeout=30,
            )
            response.raise_for_status()
            self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", timeout=30, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def trigger(self, dag_id: str) -> str:
        # Airflow 3 requires the logical_date key (null: "now"); Airflow 2 rejects a null one.
        body: dict[str, Any] = {} if self.server.major == 2 else {"logical_date": None}
        run_id: str = self.json("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]
        return run_id


def _processes_in(home: Path) -> list[int]:
    """PIDs of live processes working in ``home`` (the harness starts them there).

    Matched as a prefix: once stop() deleted the home, a survivor's cwd reads "<home> (deleted)".
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd").startswith(str(home)):
                state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_version_endpoint_answers_the_right_major_version(airflow: AirflowServer) -> None:
    prefix = "/api/v1" if airflow.major == 2 else "/api/v2"
    response = requests.get(f"{airflow.url}{prefix}/version", timeout=30)
    assert response.status_code == 200
    assert response.json()["version"] == AIRFLOW_VERSIONS[airflow.major]
    assert airflow.version == AIRFLOW_VERSIONS[airflow.major]
    assert airflow.url.startswith("http://127.0.0.1:") and not airflow.url.endswith("/")


@pytest.mark.parametrize(
    ("user", "password"), [(ADMIN_USER, ADMIN_PASSWORD), (VIEWER_USER, VIEWER_PASSWORD)]
)
def test_test_dags_are_listed_with_auth(airflow: AirflowServer, user: str, password: str) -> None:
    dags = Api(airflow, user, password).json("GET", "/dags", params={"limit": 100})["dags"]
    by_id = {dag["dag_id"]: dag for dag in dags}
    assert set(by_id) == listed_dags(airflow)
    for dag in by_id.values():
        # Other tests share this server and may have (un)paused DAGs: only the type is certain.
        assert isinstance(dag["is_paused"], bool), dag
        assert dag["description"], dag
    assert sorted(tag["name"] for tag in by_id["etl_daily"]["tags"]) == ["etl"]


def test_api_refuses_missing_credentials(airflow: AirflowServer) -> None:
    prefix = "/api/v1" if airflow.major == 2 else "/api/v2"
    response = requests.get(f"{airflow.url}{prefix}/dags", timeout=30)
    assert response.status_code == (403 if airflow.major == 2 else 401)


def test_viewer_cannot_pause_but_admin_can(airflow: AirflowServer) -> None:
    admin = Api(airflow, ADMIN_USER, ADMIN_PASSWORD)
    viewer = Api(airflow, VIEWER_USER, VIEWER_PASSWORD)
    path = "/dags/pause_target_b"
    original: bool = admin.json("GET", path)["is_paused"]
    assert viewer.request("PATCH", path, json={"is_paused": not original}).status_code == 403
    try:
        assert (
            admin.json("PATCH", path, json={"is_paused": not original})["is_paused"] is not original
        )
    finally:
        admin.json("PATCH", path, json={"is_paused": original})


def test_cli_reads_the_servers_database(airflow: AirflowServer) -> None:
    result = airflow.cli("dags", "list", "-o", "plain")
    assert result.returncode == 0, result.stderr
    for dag_id in listed_dags(airflow):
        assert dag_id in result.stdout
    assert airflow.logs()


@pytest.mark.airflow
def test_start_that_times_out_raises_and_leaves_no_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(RuntimeError, match="timed out") as raised:
        start(3, home=home, ready_timeout=0.5)
    assert "api-server" in str(raised.value)  # the log tail is in the message
    assert _processes_in(home.resolve()) == []


@pytest.fixture(params=sorted(AIRFLOW_VERSIONS), ids=lambda major: f"af{major}")
def scheduled_airflow(request: pytest.FixtureRequest) -> Iterator[AirflowServer]:
    server = start(request.param, scheduler=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.airflow
@pytest.mark.slow
def test_scheduler_runs_dags_to_success_and_failure(scheduled_airflow: AirflowServer) -> None:
    api = Api(scheduled_airflow, ADMIN_USER, ADMIN_PASSWORD)
    dags = api.json("GET", "/dags", params={"limit": 100})["dags"]
    paused = {dag["dag_id"] for dag in dags if dag["is_paused"]}
    assert paused == listed_dags(scheduled_airflow)  # Airflow's default
    expected = {"quick_success": "success", "always_fails": "failed"}
    runs = {}
    for dag_id in expected:
        api.json("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        runs[dag_id] = api.trigger(dag_id)
    states: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(states) < len(runs):
        for dag_id, run_id in runs.items():
            state = api.json("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                states[dag_id] = state
        time.sleep(0.5)
    assert states == expected, scheduled_airflow.logs()

    tasks = api.json("GET", f"/dags/always_fails/dagRuns/{runs['always_fails']}/taskInstances")
    by_task = {task["task_id"]: task["state"] for task in tasks["task_instances"]}
    assert by_task == {"prepare": "success", "explode": "failed"}

    home = scheduled_airflow.home
    assert _processes_in(home)
    scheduled_airflow.stop()
    scheduled_airflow.stop()  # idempotent
    assert _processes_in(home) == []
