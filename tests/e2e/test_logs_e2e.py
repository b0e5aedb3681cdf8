"""`/airflow logs`, marking a run and the runs that ended, against a real Airflow 2 and 3 whose
scheduler really runs ``logs_then_fails`` (testkit/dags/logs.py): its failing task prints
60 numbered lines and a hostile one, then raises.

Runs are started as someone outside the bot would start them (the API), as a failure alert's
runs are.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.airflow import AirflowClient
from bot.tools.localslack import SlackStandin
from bot.tools.signing import block_actions_body, post_signed
from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import finished_conversation, visible_text
from tests.conftest import E2E_ENV

pytestmark = pytest.mark.airflow
CHANNEL = "C0LOGS"
VIEWER = "U0VIEWER"
DAG, TASK = "logs_then_fails", "print_then_fail"
ERROR = "RuntimeError: logs_then_fails: failed on purpose after the known lines"


def client(server: AirflowServer) -> AirflowClient:
    return AirflowClient(base_url=server.url, name="af", username=ADMIN_USER,
                         password=ADMIN_PASSWORD)  # fmt: skip


def run_to_end(server: AirflowServer, dag_id: str) -> dict[str, Any]:
    probe = AirflowProbe(server)
    run_id = f"outside_{uuid.uuid4().hex[:10]}"
    probe.trigger(dag_id, run_id)
    return probe.wait_ended(dag_id, run_id)


def code_lines(message: dict[str, Any]) -> list[str]:
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    shown = [t.removeprefix("```\n").removesuffix("\n```") for t in texts if t.startswith("```")]
    return "\n".join(shown).splitlines()


def seen(pages: list[dict[str, Any]]) -> set[str]:
    lines = [line for page in pages for line in code_lines(page)]
    return {want for want in ("line 060", ERROR) if any(line.endswith(want) for line in lines)}


def earlier_button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == "logs_earlier":
                return {**element, "block_id": block.get("block_id") or "actions"}
    return None


def click_earlier(
    bot: BotProcess, slack: SlackStandin, page: dict[str, Any], button: dict[str, Any]
) -> dict[str, Any]:
    """Click Earlier lines on ``page``; returns the new page the bot adds to the thread."""
    before = len(slack.thread(CHANNEL, page["thread_ts"]))
    body = block_actions_body(
        message_ts=page["ts"], action_id=button["action_id"], value=button["value"],
        response_url=slack.new_response_url(channel=CHANNEL, message_ts=page["ts"]),
        user_id=VIEWER, channel_id=CHANNEL, thread_ts=page["thread_ts"],
        block_id=button["block_id"], message=page, button_text="Earlier lines",
    )  # fmt: skip
    assert post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET) == (200, "")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = slack.thread(CHANNEL, page["thread_ts"])
        if len(replies) > before:
            return replies[-1]
        time.sleep(0.1)
    raise AssertionError("no earlier page came")


def test_logs_shows_the_failed_task_s_last_lines_and_pages_back_to_its_known_lines(
    running_airflow: AirflowServer, slack: SlackStandin, tmp_path: Path
) -> None:
    run = run_to_end(running_airflow, DAG)
    assert run["state"] == "failed"
    config = f"""
deployments:
  af: {{url: "{running_airflow.url}", username: admin, password: "${{AF_PASSWORD}}"}}
grants:
  - {{role: viewer, users: [{VIEWER}]}}
"""
    bot = BotProcess(workdir=tmp_path, config=config, slack_api_url=slack.api_url, env=E2E_ENV)
    slack.reset()  # the stand-in is the session's: no thread of another test may be taken for ours
    with bot.start():
        text = f"logs af {DAG}"
        assert bot.slash(text, user_id=VIEWER, channel_id=CHANNEL) == (200, "")
        conv = finished_conversation(slack, CHANNEL, header=f"<@{VIEWER}> ran `/airflow {text}`")
        [page] = conv.replies
        header = visible_text(page).split("```")[0]
        # The latest run (the one just made outside the bot), its failed task, not `fine`.
        assert f"Log of `{TASK}` in run" in header and run["dag_run_id"] in header
        assert "Try 1" in header and ":x: failed" in header
        pages = [page]
        # Airflow 2 logs the traceback after the printed lines, Airflow 3 before the buffered
        # ones: read back until both have been seen.
        while not {"line 060", ERROR} <= seen(pages):
            button = earlier_button(pages[-1])
            assert button is not None and len(pages) < 8, f"not all seen: {seen(pages)}"
            pages.append(click_earlier(bot, slack, pages[-1], button))
        shown = [line for p in reversed(pages) for line in code_lines(p)]
    numbered = [line for line in shown if "logs_then_fails line 0" in line]
    assert numbered[-1].endswith("logs_then_fails line 060")
    assert any(line.endswith(ERROR) for line in shown)
    hostile = [line for line in shown if "hostile:" in line]
    assert hostile and hostile[0].endswith(
        "hostile: &lt;!channel&gt; &lt;@U0EVE&gt; &lt;https://evil.example|click&gt; "
        "\u02cb\u02cb\u02cb &amp;amp; done"
    )
    assert not any("::group::" in line or "::endgroup::" in line for line in shown)
    everything = json.dumps([c.params for c in slack.calls])
    assert "<!channel>" not in everything and "<@U0EVE>" not in everything


def test_mark_run_really_marks_a_failed_run_success(running_airflow: AirflowServer) -> None:
    run = run_to_end(running_airflow, DAG)
    assert run["state"] == "failed"
    marked = client(running_airflow).mark_run(DAG, run["dag_run_id"])
    assert marked.state == "success" and marked.run_id == run["dag_run_id"]
    assert AirflowProbe(running_airflow).run(DAG, run["dag_run_id"])["state"] == "success"


def test_task_instances_and_the_log_of_a_run_through_the_client(
    running_airflow: AirflowServer,
) -> None:
    run = run_to_end(running_airflow, DAG)
    api = client(running_airflow)
    tasks = api.task_instances(DAG, run["dag_run_id"])
    assert [(t.task_id, t.state, t.try_number) for t in tasks] == [
        ("fine", "success", 1),
        (TASK, "failed", 1),
    ]
    failed = api.task_instances(DAG, run["dag_run_id"], states=["failed"])
    assert [t.task_id for t in failed] == [TASK]
    lines = api.task_log(DAG, run["dag_run_id"], TASK, try_number=1)
    assert any(line.endswith("logs_then_fails line 001") for line in lines)
    assert any(line.endswith(ERROR) for line in lines)
    assert not any(line.startswith("[") and "earlier lines left out" in line for line in lines)


def test_ended_runs_returns_runs_that_just_ended_and_not_older_ones(
    running_airflow: AirflowServer,
) -> None:
    api = client(running_airflow)
    older = run_to_end(running_airflow, "quick_success")
    first = run_to_end(running_airflow, "quick_success")
    second = run_to_end(running_airflow, DAG)
    since = datetime.fromisoformat(first["end_date"])
    page = api.ended_runs(since=since)
    ids = [r.run_id for r in page.runs]
    assert first["dag_run_id"] in ids and second["dag_run_id"] in ids
    assert older["dag_run_id"] not in ids
    assert ids.index(first["dag_run_id"]) < ids.index(second["dag_run_id"])
    ends = [r.end_date or datetime.min.replace(tzinfo=UTC) for r in page.runs]
    assert min(ends) >= since and ends == sorted(ends)
    # Bounds are inclusive to the microsecond; one microsecond later leaves the first out.
    later = api.ended_runs(since=since + timedelta(microseconds=1))
    assert first["dag_run_id"] not in [r.run_id for r in later.runs]
    failed = api.ended_runs(since=since, states=["failed"])
    assert [r.run_id for r in failed.runs] == [second["dag_run_id"]]
    assert failed.total == 1 and failed.runs[0].state == "failed"
    # Paging: one run a page, in the same order.
    paged = [api.ended_runs(since=since, limit=1, offset=n).runs[0].run_id for n in range(2)]
    assert paged == ids[:2]
