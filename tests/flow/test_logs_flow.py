"""`/airflow logs` and the Logs and Mark success buttons: the real bot, the Slack stand-in and a
scripted Airflow 3 with task instances and their logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.core.buttons import seal
from bot.core.reply import Buttons, Intent, Reply, actions, section
from testkit.conversation import visible_text
from testkit.flow import FlowBot, ScriptedAirflow, deployment, flow_bot
from testkit.scripted_tasks import ScriptedTask

ALICE, VERA, NOBODY = "U0ALICE", "U0VERA", "U0NOBODY"
CHANNEL = "C0FLOW"
OLD, NEW = "scheduled__2026-11-30T00:00:00+00:00", "scheduled__2026-12-01T00:00:00+00:00"


def at(second: int) -> str:
    return f"2026-12-01T00:00:{second:02d}Z"


def numbered(task: str, count: int) -> list[str]:
    return [f"{task} line {n:03d}" for n in range(1, count + 1)]


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as scripted:
        scripted.add_dag("etl_daily")
        scripted.add_dag("hr_payroll")
        scripted.add_past_run(
            "etl_daily", OLD, tasks=[ScriptedTask("old", "failed", start_date=at(0), log=["x"])]
        )
        scripted.add_past_run(
            "etl_daily",
            NEW,
            tasks=[
                # In the order Airflow 3 lists them (by map index), not the order they ran.
                ScriptedTask("report", "failed", start_date=at(9), log=numbered("report", 3)),
                ScriptedTask("cleanup", "upstream_failed", try_number=0),
                ScriptedTask(
                    "load", "failed", start_date=at(5), end_date=at(8), log=numbered("load", 100)
                ),
                ScriptedTask("extract", "success", start_date=at(1), log=numbered("extract", 2)),
            ],
        )
        yield scripted


@pytest.fixture
def flow(tmp_path: Path, airflow: ScriptedAirflow) -> Iterator[FlowBot]:
    config = f"""
deployments:
  prod: {deployment(airflow)}
  confirmed: {deployment(airflow, confirm=True)}
roles:
  lister: [list, status]
grants:
  - {{role: operator, users: [{ALICE}]}}
  - {{role: viewer, users: [{VERA}]}}
  - {{role: lister, users: [{NOBODY}]}}
"""
    with flow_bot(tmp_path, config) as bot:
        yield bot


def replies(flow: FlowBot) -> list[dict[str, Any]]:
    return [m for m in flow.said() if m.get("thread_ts") and m["thread_ts"] != m["ts"]]


def code_text(message: dict[str, Any]) -> str:
    """The lines shown in the message's code blocks, as a reader sees them."""
    texts = [b["text"]["text"] for b in message.get("blocks") or [] if b["type"] == "section"]
    blocks = [t.removeprefix("```\n").removesuffix("\n```") for t in texts if t.startswith("```")]
    return "\n".join(blocks)


def labels(message: dict[str, Any]) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def log_requests(airflow: ScriptedAirflow) -> list[str]:
    return [r.path for r in airflow.http.requests if "/logs/" in r.path]


def test_logs_shows_the_end_of_the_latest_run_s_first_failed_task(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("logs prod etl_daily")
    parent, page = flow.said()
    assert "ran `/airflow logs prod etl_daily`" in parent["text"]
    header = visible_text(page).split("\n```")[0]
    # `load` failed before `report` did: the first failure is what went wrong.
    assert "Log of `load` in run" in header and NEW in header and "etl_daily" in header
    assert "Try 1" in header and ":x: failed" in header and "took 3s" in header
    shown = numbered("load", 100)[60:]
    assert code_text(page).splitlines() == [f"[17:36:16] INFO - {line}" for line in shown]
    assert "Lines 61–100 of 100." in visible_text(page)
    assert labels(page) == ["Earlier lines", "Open in Airflow"]
    run_path = f"/api/v2/dags/etl_daily/dagRuns/{quote(NEW, safe='')}"
    assert log_requests(airflow) == [f"{run_path}/taskInstances/load/logs/1"]
    assert "log of `load`, try 1" in flow.slack.message(CHANNEL, parent["ts"])["text"]


def test_earlier_lines_come_as_new_replies_until_the_start_of_the_log(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command("logs prod etl_daily")
    _, first = flow.said()
    flow.click(first, "logs_earlier", user=VERA)  # anyone who may read logs may page
    second = replies(flow)[-1]
    assert second["ts"] != first["ts"] and second["thread_ts"] == first["thread_ts"]
    assert code_text(flow.slack.message(CHANNEL, first["ts"])) == code_text(first)  # kept
    assert [line[-8:] for line in code_text(second).splitlines()] == [
        f"line {n:03d}" for n in range(21, 61)
    ]
    assert "Lines 21–60 of 100." in visible_text(second)
    assert "(try 1)" in visible_text(second)
    flow.click(second, "logs_earlier")
    third = replies(flow)[-1]
    assert code_text(third).splitlines()[0].endswith("load line 001")
    assert "Lines 1–20 of 100." in visible_text(third)
    assert labels(third) == ["Open in Airflow"]  # nothing earlier
    # A page of a known try costs one call: no lookup of runs or tasks again.
    assert len([r for r in airflow.http.requests if "taskInstances" in r.path]) == 4


def test_a_named_run_and_task_are_shown_and_an_unknown_task_is_named(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    flow.command(f"logs prod etl_daily {NEW} extract")
    page = replies(flow)[-1]
    assert "Log of `extract`" in visible_text(page) and ":white_check_mark: success" in (
        visible_text(page)
    )
    assert code_text(page).endswith("extract line 002")
    assert labels(page) == ["Open in Airflow"]
    flow.command(f"logs prod etl_daily {NEW} lod")
    told = visible_text(replies(flow)[-1])
    assert "has no task `lod`" in told and "`load`" in told and "`extract`" in told
    flow.command(f"logs prod etl_daily {NEW} cleanup")
    told = visible_text(replies(flow)[-1])
    assert "Task `cleanup`" in told and "has not run" in told and "upstream_failed" in told


def test_without_failures_the_last_task_to_start_is_shown(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    airflow.add_past_run(
        "hr_payroll",
        "manual__1",
        state="success",
        tasks=[
            ScriptedTask("b", start_date=at(7), log=["from b"]),
            ScriptedTask("a", start_date=at(3), log=["from a"]),
        ],
    )
    flow.command("logs prod hr_payroll")
    page = replies(flow)[-1]
    assert "Log of `b`" in visible_text(page) and code_text(page).endswith("from b")


def test_a_run_where_no_task_ran_says_so(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    airflow.add_past_run(
        "hr_payroll", "queued_1", state="queued", tasks=[ScriptedTask("a", None, try_number=0)]
    )
    flow.command("logs prod hr_payroll")
    told = visible_text(replies(flow)[-1])
    assert "No task of run" in told and "has run yet" in told and "queued" in told
    assert log_requests(airflow) == []
    flow.command("logs prod etl_daily nope")
    assert "No run `nope` of `etl_daily`" in visible_text(replies(flow)[-1])


def test_hostile_log_lines_are_shown_as_text_and_never_ping_or_link(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    hostile = [
        "<!channel> <!here> <@U0EVE> <#C0SECRET>",
        "<https://evil.example|click me> *bold* _it_",
        "``` the block ends here? ``` &amp; & < >",
    ]
    airflow.add_past_run(
        "hr_payroll", "r1", tasks=[ScriptedTask("t", "failed", start_date=at(1), log=hostile)]
    )
    flow.command("logs prod hr_payroll")
    page = replies(flow)[-1]
    shown = code_text(page)
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0EVE&gt; &lt;#C0SECRET&gt;" in shown
    assert "&lt;https://evil.example|click me&gt;" in shown
    assert "&amp;amp; &amp; &lt; &gt;" in shown
    assert shown.count("```") == 0  # no backtick run can end the code block early
    everything = "\n".join(flow.everything_said())
    for raw in ("<!channel>", "<!here>", "<@U0EVE>", "<#C0SECRET>", "<https://evil"):
        assert raw not in everything


def test_a_long_log_line_and_many_lines_stay_within_slack_s_limits(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    lines = ["&" * 5000, *(f"{n:02d} " + "<" * 200 for n in range(60))]
    airflow.add_past_run(
        "hr_payroll", "r1", tasks=[ScriptedTask("t", "failed", start_date=at(1), log=lines)]
    )
    flow.command("logs prod hr_payroll")
    page = replies(flow)[-1]
    assert len(page["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in page["blocks"] if b["type"] == "section")
    assert len(code_text(page).splitlines()) == 40  # every line of the page, none cut off


def test_help_shows_logs_to_a_viewer_and_never_mark(flow: FlowBot) -> None:
    flow.command("help", user=VERA)
    flow.command("help logs", user=VERA)
    told = "\n".join(flow.everything_said())
    assert (
        "/airflow logs [&lt;deployment&gt;] &lt;dag_id&gt; [&lt;run_id&gt;] [&lt;task_id&gt;]"
        in told
    )
    assert "first failed task" in told and "Earlier lines" in told
    assert "/airflow mark" not in told


def test_logs_is_refused_to_a_user_without_it_before_airflow_is_asked(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    before = len(airflow.http.requests)
    flow.command("logs prod etl_daily", user=NOBODY)
    assert [m for m in flow.said() if "ran `/airflow logs" in m.get("text", "")] == []
    denial = [
        c for c in flow.slack.calls if "None of your grants allows `logs`" in json.dumps(c.params)
    ]
    assert denial
    assert len(airflow.http.requests) == before


# -- buttons other messages carry (a failure alert's) ------------------------------------------


def offer(flow: FlowBot, label: str, intent: Intent) -> dict[str, Any]:
    """A message with one button, posted as the bot posts one (its action kept in the store),
    in a thread of its own: what a failure alert does."""
    web = flow.local.bot.app.client
    parent = web.chat_postMessage(channel=CHANNEL, text=":x: Run failed")
    buttons = Buttons()
    reply = Reply(
        text="Failed",
        blocks=[section("Failed"), actions(buttons.button(label, intent))],
        intents=tuple(buttons.intents),
    )
    sealed = seal(
        reply, flow.local.bot.store, user_id="U0BOT", channel_id=CHANNEL, thread_ts=parent["ts"]
    )
    posted = web.chat_postMessage(
        channel=CHANNEL, text=sealed.text, blocks=sealed.blocks, thread_ts=parent["ts"]
    )
    flow.settle()
    return flow.slack.message(CHANNEL, posted["ts"])


def test_the_logs_button_of_another_message_opens_that_task_s_log_in_its_thread(
    flow: FlowBot,
) -> None:
    alert = offer(
        flow, "Logs", Intent("logs", "prod", "etl_daily", args={"run_id": NEW, "task_id": "report"})
    )
    flow.click(alert, "logs", user=VERA)
    page = replies(flow)[-1]
    assert page["thread_ts"] == alert["thread_ts"]
    assert "Log of `report`" in visible_text(page)
    assert code_text(page).endswith("report line 003")
    flow.click(alert, "logs", user=NOBODY)
    assert any(
        "None of your grants allows `logs`" in json.dumps(c.params) for c in flow.slack.calls
    )


def test_mark_success_waits_for_confirm_then_marks_the_run(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    alert = offer(
        flow, "Mark success", Intent("mark", "confirmed", "etl_daily", args={"run_id": NEW})
    )
    flow.click(alert, "mark", user=VERA)  # a viewer may not
    assert any(
        "None of your grants allows `mark`" in json.dumps(c.params) for c in flow.slack.calls
    )
    flow.click(alert, "mark")
    assert airflow.writes() == []
    [prompt] = [m for m in replies(flow) if "confirm" in json.dumps(m.get("blocks"))]
    assert f"mark run `{NEW}` of `etl_daily` as success" in visible_text(prompt)
    flow.click(prompt, "confirm")
    [patch] = airflow.writes()
    assert patch.method == "PATCH" and patch.json() == {"state": "success"}
    assert airflow.dags["etl_daily"].runs[NEW]["state"] == "success"
    said = "\n".join(visible_text(m) for m in replies(flow))
    assert "as :white_check_mark: success (it was :x: failed)" in said
    # A second click on the alert: the run is already successful, nothing is sent.
    flow.click(alert, "mark")
    [prompt, *_] = [m for m in replies(flow)[::-1] if "confirm" in json.dumps(m.get("blocks"))]
    flow.click(prompt, "confirm")
    assert len(airflow.writes()) == 1
    assert "already :white_check_mark: success: nothing changed" in "\n".join(
        visible_text(m) for m in replies(flow)
    )
