"""Following triggered runs to their end, with a real Airflow 2 and 3 scheduler running.

A run that succeeds and one that fails are reported in the thread with the right state and
failed task; a bot killed mid-run reports the end once after its restart; two bot processes on
one PostgreSQL store report each run exactly once.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import BotProcess
from testkit.conversation import finished_conversation, visible_text
from tests.conftest import E2E_ENV

pytestmark = pytest.mark.airflow
CHANNEL = "C0FOLLOW"
USER = "U0ALICE"
ENDED = "ended"


def config(server: AirflowServer) -> str:
    return f"""
deployments:
  af: {{url: "{server.url}", username: admin, password: "${{AF_PASSWORD}}"}}
grants:
  - {{role: operator, users: [{USER}]}}
"""


def start_bot(workdir: Path, slack: SlackStandin, server: AirflowServer, **env: str) -> BotProcess:
    bot = BotProcess(workdir=workdir, config=config(server), slack_api_url=slack.api_url,
                     env={**E2E_ENV, **env})  # fmt: skip
    return bot.start()


def trigger(bot: BotProcess, slack: SlackStandin, dag: str, sleep: int = 1) -> str:
    """Trigger ``dag`` (its tasks taking ``sleep`` seconds); returns the thread's ts."""
    # A conf unique to this trigger, so that its thread is told apart from earlier ones.
    text = f'trigger af {dag} {{"test": "{uuid.uuid4().hex[:8]}", "sleep": {sleep}}}'
    status, body = bot.slash(text, user_id=USER, channel_id=CHANNEL)
    assert (status, body) == (200, "")
    conv = finished_conversation(slack, CHANNEL, header=f"<@{USER}> ran `/airflow {text}`")
    assert "Triggered" in conv.reply_text, conv.reply_text
    return str(conv.parent["ts"])


def thread_texts(slack: SlackStandin, ts: str) -> list[str]:
    return [visible_text(m) for m in slack.thread(CHANNEL, ts)]


def wait_for_end(slack: SlackStandin, ts: str, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = thread_texts(slack, ts)
        if any(ENDED in t for t in texts):
            time.sleep(1)  # a duplicate report, if there were one, would follow at once
            return thread_texts(slack, ts)
        time.sleep(0.2)
    raise AssertionError(f"the end of the run was not reported: {thread_texts(slack, ts)}")


def test_a_run_that_succeeds_is_reported_start_and_end(
    running_airflow: AirflowServer, slack: SlackStandin, tmp_path: Path
) -> None:
    with start_bot(tmp_path, slack, running_airflow) as bot:
        ts = trigger(bot, slack, "quick_success", sleep=8)  # long enough to be seen running
        texts = wait_for_end(slack, ts)
    # Airflow 3.1+ streams the run's state; Airflow 2 is polled.
    how = "by its state stream" if running_airflow.major == 3 else "by polling"
    assert how in bot.logs()
    ends = [t for t in texts if ENDED in t]
    assert len(ends) == 1 and "success" in ends[0] and "quick_success" in ends[0]
    assert any("is running" in t for t in texts), texts
    assert "run success" in slack.message(CHANNEL, ts)["text"]  # the parent's summary


def test_a_failed_run_names_its_failed_task_and_offers_to_clear_it(
    running_airflow: AirflowServer, slack: SlackStandin, tmp_path: Path
) -> None:
    with start_bot(tmp_path, slack, running_airflow) as bot:
        ts = trigger(bot, slack, "always_fails")
        wait_for_end(slack, ts)
        [end] = [m for m in slack.thread(CHANNEL, ts) if ENDED in visible_text(m)]
    text = visible_text(end)
    assert "failed" in text and "Failed tasks: `explode`" in text and "prepare" not in text
    labels = [
        e["text"]["text"] for b in end["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Logs of the failed tasks", "Clear failed tasks"]
    parent = slack.message(CHANNEL, ts)["text"]
    assert ":x:" in parent and "failed: `explode`" in parent


def test_a_run_that_ends_while_the_bot_is_down_is_reported_once_after_restart(
    running_airflow: AirflowServer, slack: SlackStandin, tmp_path: Path
) -> None:
    probe = AirflowProbe(running_airflow)
    bot = start_bot(tmp_path, slack, running_airflow)
    try:
        ts = trigger(bot, slack, "quick_success")
        bot.kill()
        run_id = probe.runs("quick_success")[0]["dag_run_id"]
        deadline = time.monotonic() + 120
        while probe.run("quick_success", run_id)["state"] not in ("success", "failed"):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.5)
        assert not any(ENDED in t for t in thread_texts(slack, ts))
        bot.start()
        try:
            texts = wait_for_end(slack, ts)
        except AssertionError:
            print(bot.logs())
            raise
        time.sleep(3)  # another check round: still only one report
        texts = thread_texts(slack, ts)
    finally:
        bot.stop()
    assert len([t for t in texts if ENDED in t]) == 1, texts


def test_two_processes_on_one_postgresql_store_report_each_run_once(
    running_airflow: AirflowServer, slack: SlackStandin, tmp_path: Path, postgres_url: str
) -> None:
    env = {"DATABASE_URL": postgres_url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_bot(tmp_path / "a", slack, running_airflow, **env)
    second = start_bot(tmp_path / "b", slack, running_airflow, **env)
    try:
        threads = [trigger(bot, slack, "quick_success") for bot in (first, second, first)]
        for ts in threads:
            wait_for_end(slack, ts)
        time.sleep(3)
        for ts in threads:
            texts = thread_texts(slack, ts)
            assert len([t for t in texts if ENDED in t]) == 1, texts
            assert len([t for t in texts if "is running" in t]) <= 1, texts
    finally:
        first.stop()
        second.stop()
