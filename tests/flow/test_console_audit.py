"""The audit trail says which actions came from the console, and nothing from Slack can say so.

The console's local bot (bot/tools/localbot.py) gets a random key of its own; the console's requests
carry it, and only a bot built with a key looks for it. Runs in process on a scripted Airflow.
"""

from __future__ import annotations

import io

import pytest

from bot.slack.origin import CONSOLE_HEADER, origin_of
from bot.tools.console import Console
from testkit.flow import FlowBot, ScriptedAirflow, StartFlow, deployment

USER, CHANNEL, AUDIT = "U0ALICE", "C0FLOW", "C0AUDIT"


@pytest.fixture
def flow(start_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    return start_flow(f"""
deployments:
  prod: {deployment(airflow)}
channels:
  {CHANNEL}: prod
  C0CONSOLE: prod
grants:
  - {{role: operator, users: [{USER}, U0CONSOLE]}}
audit_channel: {AUDIT}
""")


def audit_posts(flow: FlowBot) -> list[str]:
    return [str(m.get("text")) for m in flow.said(AUDIT)]


def test_commands_and_clicks_from_the_console_are_audited_as_the_consoles(
    flow: FlowBot,
) -> None:
    typed = io.StringIO("pause etl_daily\nlist\n3\n")  # [3]: Runs of etl_daily
    out = io.StringIO()
    Console(flow.local, stdin=typed, stdout=out, settle_timeout=10).run()
    [pause, listing, click] = flow.audit()
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
    assert [e.source for e in flow.audit()] == ["slash", "slash", "button"]
    assert "console" not in " ".join(audit_posts(flow))


def test_a_request_cannot_claim_to_come_from_the_console(flow: FlowBot) -> None:
    claims = ("console", "1", "", "x" * 32)
    for claim in claims:
        request = flow.slash_request("pause etl_daily", user=USER, channel=CHANNEL)
        assert flow.deliver(request, headers={CONSOLE_HEADER: claim}).status == 200
    assert [e.source for e in flow.audit()] == ["slash"] * len(claims)


def test_only_the_console_middleware_sets_the_origin() -> None:
    assert origin_of({}) == "slack"
    assert origin_of({"origin": "anything"}) == "slack"
    assert origin_of({"origin": "console"}) == "console"
