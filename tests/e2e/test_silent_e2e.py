"""The silent trouble, watched on a real Airflow 2 and 3 with their schedulers (and Airflow 3's
DAG processor): a run running past ``long=30s``, a second run queued behind
``max_active_runs=1``, a deadline passed with no success (and one with a success, silent), a
DAG file broken in the DAGs folder and fixed. Each alert comes once; its end is told in its
thread. Mark failed from the long run's alert really fails the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.tools.localslack import SlackStandin
from bot.tools.signing import block_actions_body, post_signed
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import visible_text
from tests.conftest import E2E_ENV

pytestmark = pytest.mark.airflow
SILENT, LATE, FILES = "C0SILENT", "C0LATE", "C0FILES"
ALICE = "U0ALICE"
INTERVAL = 2
BROKEN = "broken_silent_e2e.py"


def deadline_ahead() -> str:
    """The next whole minute at least 20 s away (UTC): the bot starts before it, and the
    module's other tests take longer than the wait."""
    return (datetime.now(UTC) + timedelta(seconds=80)).strftime("%H:%M")


def config(server: AirflowServer, late_at: str) -> str:
    return f"""
deployments:
  af: {{url: "{server.url}", username: admin, password: "${{AF_PASSWORD}}"}}
grants:
  - {{role: operator, users: [{ALICE}]}}
subscriptions:
  - channel: {SILENT}
    deployment: af
    dags: [silent_slow]
    events: [long, queued]
    long_after: 30s
    queued_after: 20s
  - channel: {LATE}
    deployment: af
    dags: [silent_never, quick_success]
    events: [late]
    late: {{at: "{late_at}"}}
  - {{channel: {FILES}, deployment: af, dags: ["broken_*"], events: [import_errors]}}
"""


@pytest.fixture(scope="module")
def late_at(running_airflow: AirflowServer) -> str:
    """The deadline of this Airflow's turn, set once ``quick_success`` has a success before it
    (a run still queued at the deadline would make it late, and the test a race)."""
    probe = AirflowProbe(running_airflow)
    assert probe.wait_ended("quick_success", probe.trigger("quick_success"))["state"] == "success"
    return deadline_ahead()


@pytest.fixture(scope="module")
def watching(
    running_airflow: AirflowServer,
    slack: SlackStandin,
    late_at: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    slack.reset()  # the channels of the other Airflow's turn
    bot = BotProcess(
        workdir=tmp_path_factory.mktemp("silent"),
        config=config(running_airflow, late_at),
        slack_api_url=slack.api_url,
        env={**E2E_ENV, "WATCH_INTERVAL_SECONDS": str(INTERVAL)},
    )
    with bot:
        time.sleep(2 * INTERVAL)
        yield bot


def posts(slack: SlackStandin, channel: str, *words: str) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.messages.get(channel, [])
        if "thread_ts" not in m and all(w in visible_text(m) for w in words)
    ]


def replies(slack: SlackStandin, channel: str, parent: dict[str, Any]) -> list[str]:
    return [visible_text(m) for m in slack.thread(channel, parent["ts"])]


def wait(what: Callable[[], list[Any]], timeout: float = 150) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            time.sleep(2 * INTERVAL)  # a second one, if there were one, would come by then
            return what()
        time.sleep(0.5)
    raise AssertionError("nothing came")


def click(bot: BotProcess, slack: SlackStandin, channel: str, message: dict[str, Any],
          action: str) -> None:  # fmt: skip
    [(block, button)] = [(b, e) for b in message["blocks"] for e in b.get("elements", [])
                         if e.get("action_id") == action]  # fmt: skip
    url = slack.new_response_url(channel=channel, message_ts=message["ts"])
    body = block_actions_body(
        message_ts=message["ts"], action_id=action, value=button.get("value", ""),
        response_url=url, user_id=ALICE, channel_id=channel, block_id=block.get("block_id") or
        "actions", message=message, button_text=button["text"]["text"],
    )  # fmt: skip
    assert post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET) == (200, "")


def test_a_long_run_and_the_run_queued_behind_it(
    watching: BotProcess, slack: SlackStandin, running_airflow: AirflowServer
) -> None:
    probe = AirflowProbe(running_airflow)
    first = probe.trigger("silent_slow")
    second = probe.trigger("silent_slow")
    try:
        [queued] = wait(lambda: posts(slack, SILENT, "Stuck in the queue", second))
        text = visible_text(queued)
        assert f"max_active_runs (1) is reached: held by {first}" in text
        [long] = wait(lambda: posts(slack, SILENT, "Run running long", first))
        assert "`sleep` for" in visible_text(long) and "limit 30s" in visible_text(long)
        click(watching, slack, SILENT, long, "mark")  # Mark failed
        assert probe.wait_ended("silent_slow", first)["state"] == "failed"
        told = wait(lambda: [r for r in replies(slack, SILENT, long) if "ended" in r])
        assert len(told) == 1 and "failed" in told[0]
        assert any("Marked run" in r for r in replies(slack, SILENT, long))
        [started] = wait(lambda: replies(slack, SILENT, queued))
        assert "Started" in started
        assert len(posts(slack, SILENT, "Stuck in the queue")) == 1
    finally:
        # Free the scheduler (Airflow 2 runs one task at a time) for the modules after this.
        for run_id in (first, second):
            probe.mark("silent_slow", run_id, "failed")


def test_a_broken_dag_file_is_posted_and_its_fix_told(
    watching: BotProcess, slack: SlackStandin, running_airflow: AirflowServer
) -> None:
    with running_airflow.broken_dag_file(BROKEN, message="broken for the watch"):
        [post] = wait(lambda: posts(slack, FILES, "does not import", BROKEN))
        assert "broken for the watch" in visible_text(post)
    [fixed] = wait(lambda: replies(slack, FILES, post))
    assert "Imports again" in fixed
    assert len(posts(slack, FILES, BROKEN)) == 1


def test_a_deadline_without_a_success_alerts_once_and_one_with_stays_silent(
    watching: BotProcess, slack: SlackStandin, late_at: str
) -> None:
    [alert] = wait(lambda: posts(slack, LATE, "Late", "silent_never"), timeout=180)
    text = visible_text(alert)
    assert f"before {late_at} UTC" in text and "never succeeded" in text
    assert "paused" in text
    assert posts(slack, LATE, "quick_success") == []
