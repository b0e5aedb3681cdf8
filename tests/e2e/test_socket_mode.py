"""``python -m bot`` with SLACK_APP_TOKEN: the same bot over Socket Mode, no public URL needed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from bot.tools.signing import slash_command_fields
from testkit.airflow_harness import AirflowServer
from testkit.bot_process import BotProcess
from testkit.conversation import finished_conversation, visible_text
from tests.conftest import E2E_ENV, OPERATOR_GRANT, e2e_config

APP_TOKEN = "xapp-test-token"


@pytest.fixture
def socket_slack() -> Iterator[SlackStandin]:
    with SlackStandin(app_token=APP_TOKEN) as standin:
        yield standin


@pytest.fixture
def socket_bot(
    socket_slack: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    tmp_path: Path,
) -> Iterator[BotProcess]:
    def connected() -> bool:
        return socket_slack.socket_connection_count() > 0

    bot = BotProcess(
        workdir=tmp_path,
        config=e2e_config(airflow2, airflow3, extra=OPERATOR_GRANT),
        slack_api_url=socket_slack.api_url,
        env={**E2E_ENV, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": ""},
        command=[sys.executable, "-m", "bot"],
        ready=connected,
    )
    with bot:
        yield bot


def slash_payload(text: str, response_url: str = "http://127.0.0.1:9/unused") -> dict[str, str]:
    return slash_command_fields(text=text, response_url=response_url)


def test_a_usage_error_is_answered_in_the_ack(
    socket_bot: BotProcess, socket_slack: SlackStandin
) -> None:
    envelope = socket_slack.socket_send("slash_commands", slash_payload("triger af3 etl_daily"))
    ack = socket_slack.wait_for_socket_ack(envelope)
    assert "Did you mean `trigger`?" in ack["payload"]["text"]
    assert socket_slack.calls_to("chat.postMessage") == []


def test_help_comes_back_only_to_the_asker(
    socket_bot: BotProcess, socket_slack: SlackStandin
) -> None:
    url = socket_slack.new_response_url()
    socket_slack.socket_send("slash_commands", slash_payload("help", url))
    answer = socket_slack.wait_for("response_url")[0].params
    assert "/airflow trigger [&lt;deployment&gt;] &lt;dag_id&gt;" in visible_text(answer)
    assert socket_slack.calls_to("chat.postMessage") == []


def test_a_command_is_answered_in_a_thread(
    socket_bot: BotProcess, socket_slack: SlackStandin
) -> None:
    envelope = socket_slack.socket_send("slash_commands", slash_payload("list af3 etl_"))
    ack = socket_slack.wait_for_socket_ack(envelope)
    assert not ack.get("payload")  # an empty ack: the answer comes in the thread
    conv = finished_conversation(
        socket_slack, "C0GENERAL", header="<@U0ALICE> ran `/airflow list af3 etl_`"
    )
    assert "etl_daily" in conv.reply_text
    assert ":white_check_mark:" in conv.parent["text"]
