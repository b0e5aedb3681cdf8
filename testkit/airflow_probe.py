"""Reads a real Airflow's state straight from its REST API, independently of the bot's client.

Tests check what really happened in Airflow through this, so a bug in the bot's client cannot
hide behind the same bug in the check.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer


class AirflowProbe:
    def __init__(self, server: AirflowServer) -> None:
        self.server = server
        self.prefix = f"{server.url}/api/v{1 if server.major == 2 else 2}"
        self._session = requests.Session()
        if server.major == 2:
            self._session.auth = (ADMIN_USER, ADMIN_PASSWORD)
        else:
            resp = requests.post(
                f"{server.url}/auth/token",
                json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                timeout=30,
            )
            resp.raise_for_status()
            self._session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        resp = self._session.get(f"{self.prefix}{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def is_paused(self, dag_id: str) -> bool:
        return bool(self.get(f"/dags/{dag_id}")["is_paused"])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        resp = self._session.patch(
            f"{self.prefix}/dags/{dag_id}",
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
            timeout=30,
        )
        resp.raise_for_status()

    def trigger(
        self, dag_id: str, run_id: str | None = None, conf: dict[str, Any] | None = None
    ) -> str:
        """Start a run as someone outside the bot would (the UI, the API, a schedule); returns
        its id (``run_id``, or Airflow's)."""
        body: dict[str, Any] = {"conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if self.server.major == 3:
            body["logical_date"] = None  # v2 requires the key
        resp = self._session.post(f"{self.prefix}/dags/{dag_id}/dagRuns", json=body, timeout=30)
        resp.raise_for_status()
        return str(resp.json()["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def mark(self, dag_id: str, run_id: str, state: str) -> None:
        """Set a run's state as someone in the UI would (``failed`` stops its running tasks);
        a run already in that state, or ended, is left as it is."""
        self._session.patch(
            f"{self.prefix}/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}",
            json={"state": state},
            timeout=30,
        )

    def delete_runs(self, dag_id: str) -> None:
        for run in self.runs(dag_id):
            self._session.delete(
                f"{self.prefix}/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}",
                timeout=30,
            ).raise_for_status()

    def wait_ended(self, dag_id: str, run_id: str, timeout: float = 120) -> dict[str, Any]:
        """The run once the scheduler has ended it (success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} of {dag_id} still {run['state']}")
            time.sleep(0.5)
