"""Telling a refused token from an unreachable Slack (bot/slack/identity.py), against the Slack
stand-in's real HTTP answers and faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.slack.identity import (
    IdentityKeeper,
    SlackUnreachable,
    TokenRefused,
    ask_slack,
)
from bot.store import Store
from bot.tools.localslack import SlackStandin
from testkit.bot_process import free_port


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandin]:
    with SlackStandin() as slack:
        yield slack


@pytest.fixture
def slack(standin: SlackStandin) -> SlackStandin:
    standin.reset()
    return standin


def client(slack: SlackStandin, timeout: int = 5) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=timeout,
                     retry_handlers=[])  # fmt: skip


@pytest.mark.parametrize(
    "error", ["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"]
)
def test_a_refused_token_is_told_apart(slack: SlackStandin, error: str) -> None:
    slack.fail_next("auth.test", error)
    with pytest.raises(TokenRefused, match=error):
        ask_slack(client(slack))


def test_slack_in_trouble_is_unreachable_not_a_refused_token(slack: SlackStandin) -> None:
    slack.server_error_next("auth.test", status=503)
    with pytest.raises(SlackUnreachable, match="HTTP 503"):
        ask_slack(client(slack))
    slack.server_error_next("auth.test", status=500)
    with pytest.raises(SlackUnreachable, match="HTTP 500"):
        ask_slack(client(slack))
    slack.rate_limit_next("auth.test")
    with pytest.raises(SlackUnreachable, match="HTTP 429"):
        ask_slack(client(slack))
    slack.fail_next("auth.test", "service_unavailable")
    with pytest.raises(SlackUnreachable):
        ask_slack(client(slack))
    slack.disconnect_next("auth.test")
    with pytest.raises(SlackUnreachable):
        ask_slack(client(slack))
    slack.accept_then_hang_next("auth.test", seconds=2)
    with pytest.raises(SlackUnreachable, match="TimeoutError"):
        ask_slack(client(slack, timeout=1))


def test_no_server_at_all_is_unreachable() -> None:
    nowhere = WebClient(token="xoxb-x", base_url=f"http://127.0.0.1:{free_port()}/api/",
                        retry_handlers=[])  # fmt: skip
    with pytest.raises(SlackUnreachable, match="URLError"):
        ask_slack(nowhere)


def test_the_identity_is_kept_for_its_token_only(slack: SlackStandin, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    store.migrate()
    store.close()

    def keeper(token: str) -> IdentityKeeper:
        return IdentityKeeper(token=token, base_url=slack.api_url, database_url=url)

    first = keeper(slack.bot_token)
    first.start_up()  # Slack answers: kept
    assert first.confirmed and first.workspace() is not None
    assert first.workspace().team_id == slack.team_id  # type: ignore[union-attr]

    slack.outage(30)
    again = keeper(slack.bot_token)
    again.start_up()
    assert not again.confirmed and again.workspace() == first.workspace()
    other = keeper("xoxb-another-token")
    other.start_up()
    assert other.workspace() is None  # another token never inherits another's identity
