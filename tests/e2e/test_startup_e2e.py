"""Starting while Slack's Web API is down (issue 24, item 1): the bot as the Procfile (or
``python -m bot``) runs it, against the Slack stand-in answering 503.

Only a token Slack refuses stops the start; Slack not answering never does. No Airflow is
needed beyond a scripted one (testkit/flow.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.identity import STARTING_UP
from bot.slack.workspace import NOT_OURS
from bot.tools.localslack import SlackStandin
from bot.tools.signing import post_signed, slash_command_body, slash_command_fields
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import finished_conversation
from testkit.flow import TOKEN, ScriptedAirflow, deployment

USER, CHANNEL, DAG = "U0ALICE", "C0OPS", "etl"
APP_TOKEN = "xapp-test-token"


@pytest.fixture(scope="module")
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as scripted:
        scripted.add_dag(DAG)
        yield scripted


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin(member_channels=None, app_token=APP_TOKEN) as standin:
        yield standin


def config(airflow: ScriptedAirflow) -> str:
    return f"""deployments:
  prod: {deployment(airflow)}
grants:
  - {{role: operator, users: [{USER}]}}
"""


def bot_on(
    workdir: Path,
    slack: SlackStandin,
    airflow: ScriptedAirflow,
    env: dict[str, str] | None = None,
    **options: Any,
) -> BotProcess:
    env = {"SCRIPTED_TOKEN": TOKEN, "WEB_CONCURRENCY": "1", **(env or {})}
    return BotProcess(workdir=workdir, config=config(airflow), slack_api_url=slack.api_url,
                      env=env, **options)  # fmt: skip


def status(bot: BotProcess, *, team_id: str = "T0TEST") -> tuple[int, str]:
    body = slash_command_body(
        text=f"status prod {DAG}",
        user_id=USER,
        channel_id=CHANNEL,
        response_url="http://127.0.0.1:9/unused",
        team_id=team_id,
    )
    return post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET)


def answered_once(slack: SlackStandin) -> None:
    header = f"<@{USER}> ran `/airflow status prod {DAG}`"
    finished_conversation(slack, CHANNEL, header=header, timeout=60)
    parents = [m for m in slack.messages.get(CHANNEL, []) if "thread_ts" not in m]
    assert len([m for m in parents if header in m["text"]]) == 1


def test_a_restart_while_slack_is_down_serves_at_once_as_the_known_workspace(
    slack: SlackStandin, airflow: ScriptedAirflow, tmp_path: Path
) -> None:
    bot = bot_on(tmp_path, slack, airflow)
    with bot:  # a first start, Slack up: auth.test's answer is kept in the store
        pass
    slack.outage(120)
    with bot:  # today's bot exits here with status 2, "Slack refused SLACK_BOT_TOKEN"
        assert status(bot) == (200, "")  # acknowledged: the answer waits for Slack
        assert status(bot, team_id="T0OTHER") == (200, NOT_OURS)  # the check stays on
        slack.end_outage()
        answered_once(slack)
    assert "Slack refused" not in bot.logs()


def test_a_first_start_while_slack_is_down_says_starting_up_then_serves(
    slack: SlackStandin, airflow: ScriptedAirflow, tmp_path: Path
) -> None:
    slack.outage(120)
    with bot_on(tmp_path, slack, airflow) as bot:
        assert status(bot) == (200, STARTING_UP)
        assert status(bot, team_id="T0OTHER") == (200, STARTING_UP)
        slack.end_outage()
        deadline = time.monotonic() + 30
        while status(bot) == (200, STARTING_UP):  # the background asks again, with backoff
            assert time.monotonic() < deadline, bot.logs()
            time.sleep(0.5)
        answered_once(slack)
        assert status(bot, team_id="T0OTHER") == (200, NOT_OURS)


def test_a_refused_token_still_stops_the_start_with_a_clear_message(
    slack: SlackStandin, airflow: ScriptedAirflow, tmp_path: Path
) -> None:
    slack.fail_next("auth.test", "invalid_auth")
    bot = bot_on(tmp_path, slack, airflow)
    with pytest.raises(RuntimeError, match="exited with 2"):
        bot.start()
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in bot.logs()
    assert "Traceback" not in bot.logs()


def test_a_token_refused_once_slack_is_back_stops_the_bot(
    slack: SlackStandin, airflow: ScriptedAirflow, tmp_path: Path
) -> None:
    slack.outage(120, methods=["auth.test"])
    bot = bot_on(tmp_path, slack, airflow).start()
    try:
        slack.end_outage()
        slack.fail_next("auth.test", "token_revoked", times=5)
        bot.wait_exit(timeout=30)  # the whole server, not one worker forked again and again
    finally:
        bot.stop()
    assert "Slack refused SLACK_BOT_TOKEN (token_revoked)" in bot.logs()


def test_socket_mode_waits_for_slack_instead_of_exiting(
    slack: SlackStandin, airflow: ScriptedAirflow, tmp_path: Path
) -> None:
    slack.outage(4)  # apps.connections.open and auth.test answer 503
    bot = bot_on(
        tmp_path,
        slack,
        airflow,
        {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": ""},
        command=[sys.executable, "-m", "bot"],
        ready=lambda: slack.socket_connection_count() > 0,
    )
    with bot.start(ready_timeout=40):  # today's bot exits with a traceback at once
        fields = slash_command_fields(text="triger prod etl", response_url="http://127.0.0.1:9/x")
        deadline = time.monotonic() + 30
        while True:  # a first start: "starting up" until auth.test has answered too
            ack = slack.wait_for_socket_ack(slack.socket_send("slash_commands", fields))
            if ack["payload"]["text"] != STARTING_UP:
                break
            assert time.monotonic() < deadline, bot.logs()
            time.sleep(0.5)
        assert "Did you mean `trigger`?" in ack["payload"]["text"]
    assert "Traceback" not in bot.logs()
