"""The audit trail says which actions came from the console, and nothing from Slack can say so.

The console's local bot (bot/tools/localbot.py) gets a random key of its own; the console's requests
carry it, and only a bot built with a key looks for it. Runs in process on a scripted Airflow.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from bot.slack.origin import CONSOLE_HEADER, origin_of
from bot.store import AuditEntry
from bot.tools.console import Console
from bot.tools.signing import sign, slash_command_fields
from tests.support.flow import FlowBot, ScriptedAirflow, deployment, flow_bot

USER, CHANNEL, AUDIT = "U0ALICE", "C0FLOW", "C0AUDIT"


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    with ScriptedAirflow() as scripted:
        scripted.add_dag("etl_daily")
        yield scripted


@pytest.fixture
def flow(tmp_path: Path, airflow: ScriptedAirflow) -> Iterator[FlowBot]:
    config = f"""
deployments:
  prod: {deployment(airflow)}
channels:
  {CHANNEL}: prod
  C0CONSOLE: prod
grants:
  - {{role: operator, users: [{USER}, U0CONSOLE]}}
audit_channel: {AUDIT}
"""
    with flow_bot(tmp_path, config) as bot:
        yield bot


def entries(flow: FlowBot) -> list[AuditEntry]:
    return list(reversed(flow.local.bot.store.audit()))


def audit_posts(flow: FlowBot) -> list[str]:
    return [str(m.get("text")) for m in flow.said(AUDIT)]


def test_commands_and_clicks_from_the_console_are_audited_as_the_consoles(
    flow: FlowBot,
) -> None:
    typed = io.StringIO("pause etl_daily\nlist\n3\n")  # [3]: Runs of etl_daily
    out = io.StringIO()
    Console(flow.local, stdin=typed, stdout=out, settle_timeout=10).run()
    [pause, listing, click] = entries(flow)
    assert (pause.verb, pause.source) == ("pause", "console:slash")
    assert (listing.verb, listing.source) == ("list", "console:slash")
    assert click.source == "console:button", out.getvalue()
    assert audit_posts(flow) == [
        "<@U0CONSOLE> in <#C0CONSOLE>: `/airflow pause etl_daily` "
        ":white_check_mark: paused `etl_daily` (from the console)"
    ]


def test_the_same_requests_from_slack_are_audited_as_slack(flow: FlowBot) -> None:
    flow.command("pause etl_daily", user=USER, channel=CHANNEL)
    flow.command("list", user=USER, channel=CHANNEL)
    listing = [m for m in flow.said(CHANNEL) if "thread_ts" in m][-1]
    flow.click(listing, "runs", user=USER, channel=CHANNEL)
    assert [e.source for e in entries(flow)] == ["slash", "slash", "button"]
    assert "console" not in " ".join(audit_posts(flow))


def test_a_request_cannot_claim_to_come_from_the_console(flow: FlowBot) -> None:
    fields = slash_command_fields(
        text="pause etl_daily",
        response_url=flow.slack.new_response_url(channel=CHANNEL),
        user_id=USER,
        channel_id=CHANNEL,
        team_id=flow.slack.team_id,
        team_domain=flow.slack.team_domain,
        api_app_id=flow.slack.app_id,
    )
    body = urlencode(fields).encode()
    for claim in ("console", "1", "", "x" * 32):
        headers = {**sign(flow.local._secret, body), CONSOLE_HEADER: claim}
        assert requests.post(flow.local.url, data=body, headers=headers, timeout=10).ok
        flow.settle()
    assert {e.source for e in entries(flow)} == {"slash"}


def test_only_the_console_middleware_sets_the_origin() -> None:
    assert origin_of({}) == "slack"
    assert origin_of({"origin": "anything"}) == "slack"
    assert origin_of({"origin": "console"}) == "console"
