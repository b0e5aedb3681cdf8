"""Subject B of ``bench.ack_latency``: ``/airflow list [filter]`` and ``/airflow status <dag_id>``
as a typical Bolt app author writes them.

Bolt's defaults throughout: ``App(token, signing_secret)`` with ``process_before_response=False``,
so Bolt runs the listener on its own executor (a ``ThreadPoolExecutor`` of 5 threads) and the
request thread polls until the listener calls ``ack()``, for up to 3 s. The listener calls
``ack()`` first, as Bolt's docs recommend, then asks Airflow and ``respond()``s.

It is served like our bot, with the Procfile's gunicorn settings::

    gunicorn --config python:bot.serve.gunicorn_conf bench.baseline_bolt_app:application

Environment: ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL`` (the Slack
stand-in), ``AIRFLOW_URL``, ``AIRFLOW_USERNAME`` and ``AIRFLOW_PASSWORD`` (an Airflow 3).

The JWT is fetched once and cached, which spares this app a call per command: it does less
Airflow work per command (one call) than our bot's ``list`` (the page, then the DAGs' last runs)
and ``status`` (the runs; and the DAG when it has none).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import requests
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

AIRFLOW_URL = os.environ["AIRFLOW_URL"].rstrip("/")
AIRFLOW_TIMEOUT = 30

app = App(
    client=WebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    ),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
)

_token_lock = threading.Lock()
_token: str | None = None


def airflow_token() -> str:
    """A JWT from Airflow 3's ``POST /auth/token``, fetched on first use."""
    global _token
    with _token_lock:
        if _token is None:
            resp = requests.post(
                f"{AIRFLOW_URL}/auth/token",
                json={
                    "username": os.environ["AIRFLOW_USERNAME"],
                    "password": os.environ["AIRFLOW_PASSWORD"],
                },
                timeout=AIRFLOW_TIMEOUT,
            )
            resp.raise_for_status()
            _token = str(resp.json()["access_token"])
        return _token


def airflow_get(path: str, params: dict[str, Any]) -> dict[str, Any]:
    resp = requests.get(
        f"{AIRFLOW_URL}/api/v2{path}",
        params=params,
        headers={"Authorization": f"Bearer {airflow_token()}"},
        timeout=AIRFLOW_TIMEOUT,
    )
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def list_dag_ids(pattern: str | None) -> list[str]:
    params: dict[str, Any] = {"limit": 20}
    if pattern:
        params["dag_id_pattern"] = pattern
    return [str(dag["dag_id"]) for dag in airflow_get("/dags", params)["dags"]]


def recent_runs(dag_id: str) -> list[str]:
    params = {"limit": 5, "order_by": "-run_after"}
    runs = airflow_get(f"/dags/{dag_id}/dagRuns", params)["dag_runs"]
    return [f"{run['dag_run_id']}: {run['state']}" for run in runs]


@app.command("/airflow")
def airflow_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    ack()
    words = command.get("text", "").split()
    try:
        if words[:1] == ["list"]:
            dag_ids = list_dag_ids(words[1] if len(words) > 1 else None)
            respond("DAGs:\n" + "\n".join(f"• `{dag_id}`" for dag_id in dag_ids))
        elif words[:1] == ["status"] and len(words) == 2:
            runs = recent_runs(words[1])
            respond(f"Runs of `{words[1]}`:\n" + "\n".join(f"• {run}" for run in runs))
        else:
            respond("Usage: `/airflow list [filter]` or `/airflow status <dag_id>`")
    except (requests.RequestException, ValueError, KeyError) as exc:
        respond(f"Airflow did not answer: {exc}")


application = SlackRequestHandler(app)
