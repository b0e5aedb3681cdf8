"""Socket Mode messages get the same limits as HTTP requests, and the workspace check.

The real app over Socket Mode against the local Slack stand-in, which serves the WebSocket
(no Airflow: ``/airflow help`` needs none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import Bot, create_bot, load_all, migrate_store
from bot.serve.request_limits import MAX_JSON_DEPTH, Limits
from bot.serve.socket_mode import LimitedSocketModeHandler
from bot.slack.workspace import NOT_OURS
from bot.tools.localslack import SlackStandin
from bot.tools.signing import slash_command_fields
from testkit.raw_requests import local_env

LIMIT = 64 * 1024


@dataclass
class SocketBot:
    slack: SlackStandin
    bot: Bot

    def send_help(self, **more: object) -> str:
        fields: dict[str, object] = dict(
            slash_command_fields(
                text="help",
                response_url=self.slack.new_response_url(),
                team_id=self.slack.team_id,
                api_app_id=self.slack.app_id,
            )
        )
        fields.update(more)
        return self.slack.socket_send("slash_commands", fields)


@pytest.fixture(scope="module")
def socket_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketBot]:
    slack = SlackStandin().start()
    tmp: Path = tmp_path_factory.mktemp("socket")
    env = local_env(
        tmp,
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_API_URL=slack.api_url,
    )
    settings, config = load_all(env)
    migrate_store(settings.database_url)
    bot = create_bot(settings, config)
    assert settings.slack_app_token is not None
    handler = LimitedSocketModeHandler(
        bot.app, settings.slack_app_token, limits=Limits(max_bytes=LIMIT)
    )
    handler.connect()
    try:
        slack.wait_for_socket_client()
        yield SocketBot(slack, bot)
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        bot.close(wait=False)
        slack.stop()


def test_a_message_over_the_limit_is_dropped_and_the_next_served(socket_bot: SocketBot) -> None:
    big = socket_bot.send_help(padding="x" * LIMIT)
    deep = socket_bot.send_help(extra=nest(MAX_JSON_DEPTH + 1))
    fine = socket_bot.send_help()
    socket_bot.slack.wait_for_socket_ack(fine)
    for dropped in (big, deep):
        with pytest.raises(AssertionError, match="no ack"):
            socket_bot.slack.wait_for_socket_ack(dropped, timeout=0.5)


def test_a_command_from_another_workspace_is_refused(socket_bot: SocketBot) -> None:
    envelope = socket_bot.send_help(team_id="T0OTHER")
    ack = socket_bot.slack.wait_for_socket_ack(envelope)
    assert ack.get("payload") == {"text": NOT_OURS}


def nest(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value
