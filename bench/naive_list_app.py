"""The naive subject of ``bench.list_dags``: ``/airflow list`` that fetches every DAG, shows 20.

What a Bolt app author who has not met a large deployment writes: page through ``GET /dags``
until ``total_entries`` DAGs have arrived, then show the 20 asked for (a **Next** button asks
for the next 20 the same way). Airflow's API caps a page at 100 DAGs, so on 5,000 DAGs every
list, filter or Next costs 50 listing calls.

It is a deliberately *strong* version of that approach, so that the comparison flatters it:

* one ``requests.Session`` per process (kept-alive connections), where many such bots call
  ``requests.get`` afresh each time;
* the Airflow 3 JWT fetched once per process and cached, as ``bench/baseline_bolt_app.py`` does;
* a filter is passed to Airflow (``dag_id_pattern``), so a filtered list pages through only the
  matching DAGs instead of all of them;
* it shows only what the listing itself carries (id, paused, schedule): no call for last runs,
  where our bot spends its second call.

Served like our bot, with the Procfile's gunicorn settings::

    gunicorn --config python:bot.serve.gunicorn_conf bench.naive_list_app:application

Environment: ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL`` (the Slack
stand-in), ``AIRFLOW_URL``, ``AIRFLOW_API`` (``v1`` for Airflow 2 with basic auth, ``v2`` for
Airflow 3 with ``POST /auth/token``), ``AIRFLOW_USERNAME``, ``AIRFLOW_PASSWORD``, and
``DEPLOYMENT`` (the name a command may give before its filter, as with our bot).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import requests
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

AIRFLOW_URL = os.environ["AIRFLOW_URL"].rstrip("/")
API = os.environ.get("AIRFLOW_API", "v2")
DEPLOYMENT = os.environ.get("DEPLOYMENT", "")
AIRFLOW_TIMEOUT = 60
API_PAGE_LIMIT = 100
"""The most DAGs Airflow 2 and 3 return per call by default (``[api] maximum_page_limit``)."""
PAGE_SIZE = 20
"""As many as our bot shows per page."""
NEXT_ACTION = "naive_next"

app = App(
    client=WebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    ),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
)

_session = requests.Session()
_token_lock = threading.Lock()
_token: str | None = None


def _auth() -> dict[str, Any]:
    """``requests`` keyword arguments authenticating one call, for either API version."""
    username, password = os.environ["AIRFLOW_USERNAME"], os.environ["AIRFLOW_PASSWORD"]
    if API == "v1":
        return {"auth": (username, password)}
    global _token
    with _token_lock:
        if _token is None:
            resp = _session.post(
                f"{AIRFLOW_URL}/auth/token",
                json={"username": username, "password": password},
                timeout=AIRFLOW_TIMEOUT,
            )
            resp.raise_for_status()
            _token = str(resp.json()["access_token"])
    return {"headers": {"Authorization": f"Bearer {_token}"}}


def all_dags(pattern: str | None) -> list[dict[str, Any]]:
    """Every DAG (whose id contains ``pattern``), a page of 100 per call, until none are left."""
    dags: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": API_PAGE_LIMIT, "offset": len(dags)}
        if pattern:
            params["dag_id_pattern"] = pattern
        resp = _session.get(
            f"{AIRFLOW_URL}/api/{API}/dags", params=params, timeout=AIRFLOW_TIMEOUT, **_auth()
        )
        resp.raise_for_status()
        body = resp.json()
        page = body.get("dags") or []
        dags += page
        if not page or len(dags) >= int(body.get("total_entries", 0)):
            return dags


def _schedule(dag: dict[str, Any]) -> str:
    summary = dag.get("timetable_summary") or (dag.get("schedule_interval") or {}).get("value")
    return str(summary) if summary else "manual only"


def page_message(pattern: str | None, offset: int) -> dict[str, Any]:
    dags = all_dags(pattern)
    shown = dags[offset : offset + PAGE_SIZE]
    header = f"*DAGs*: {offset + 1}-{offset + len(shown)} of {len(dags)}"
    lines = [
        f"• `{d['dag_id']}` {'paused' if d.get('is_paused') else 'active'} · {_schedule(d)}"
        for d in shown
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([header, *lines])}}
    ]
    if offset + len(shown) < len(dags):
        value = json.dumps({"pattern": pattern, "offset": offset + PAGE_SIZE})
        blocks.append(
            {
                "type": "actions",
                "block_id": "pages",
                "elements": [
                    {
                        "type": "button",
                        "action_id": NEXT_ACTION,
                        "text": {"type": "plain_text", "text": "Next"},
                        "value": value,
                    }
                ],
            }
        )
    return {"text": header, "blocks": blocks}


@app.command("/airflow")
def airflow_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    ack()
    words = command.get("text", "").split()
    if words[:1] != ["list"]:
        respond("Usage: `/airflow list [<deployment>] [<filter>]`")
        return
    rest = words[1:]
    if rest[:1] == [DEPLOYMENT]:
        rest = rest[1:]
    try:
        respond(**page_message(rest[0] if rest else None, 0))
    except (requests.RequestException, ValueError, KeyError) as exc:
        respond(f"Airflow did not answer: {exc}")


@app.action(NEXT_ACTION)
def next_page(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    ack()
    try:
        state = json.loads(body["actions"][0]["value"])
        respond(replace_original=True, **page_message(state["pattern"], int(state["offset"])))
    except (requests.RequestException, ValueError, KeyError) as exc:
        respond(f"Airflow did not answer: {exc}")


application = SlackRequestHandler(app)
