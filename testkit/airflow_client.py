"""The bot's Airflow client pointed at a scripted local server (testkit.fake_http): what
the client's unit tests share."""

from __future__ import annotations

import base64
import json

from bot.airflow import AirflowClient
from testkit.fake_http import FakeHTTPServer

SECRET = "s3cr3t-value-never-shown"
V2_RUN = {
    "dag_id": "etl",
    "dag_run_id": "manual__2022-11-16T11:34:00+00:00",
    "state": "queued",
    "logical_date": "2022-11-16T11:34:00Z",
    "conf": {"a": 1},
}


def client(server: FakeHTTPServer, **kwargs: object) -> AirflowClient:
    """A client of deployment ``prod`` on ``server``: a bearer token, v2, quick retries."""
    options: dict[str, object] = {"token": SECRET, "api_version": "v2", "backoff": 0.01}
    options.update(kwargs)
    return AirflowClient(base_url=server.url, name="prod", **options)  # type: ignore[arg-type]


def make_jwt(exp: float) -> str:
    """A JWT shaped like Airflow 3's, expiring at ``exp`` (its signature is not checked)."""

    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS512'})}.{part({'sub': '1', 'exp': exp})}.sig"
