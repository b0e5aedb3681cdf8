"""A signed request from another workspace, Grid org or app is refused, with a log line.

The real app in process (``bot.tools.localbot.LocalBot``, whose Slack stand-in answers ``auth.test``
with its own team), and the rules alone for Enterprise Grid installs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.serve.wsgi import WsgiApp
from bot.slack.workspace import NOT_OURS, AppIdentity
from bot.tools.localbot import LocalBot
from bot.tools.signing import (
    block_actions_payload,
    sign,
    slash_command_body,
    view_submission_payload,
)
from testkit.raw_requests import call, environ

OTHER_TEAM = "T0OTHER"


def post(app: WsgiApp, local: LocalBot, body: bytes) -> tuple[int, str]:
    status, answer = call(app, environ(body, sign(local._secret, body)))
    return status, answer.decode()


def payload_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_slash_command_from_another_workspace_is_refused_and_logged(
    app: WsgiApp, local: LocalBot, caplog: pytest.LogCaptureFixture
) -> None:
    answered = len(local.slack.calls_to("response_url"))
    body = slash_command_body(
        text="help",
        response_url=local.slack.new_response_url(),
        team_id=OTHER_TEAM,
        api_app_id=local.slack.app_id,
    )
    with caplog.at_level(logging.WARNING, logger="bot.slack.workspace"):
        status, answer = post(app, local, body)
    assert (status, answer) == (200, NOT_OURS)
    assert f"from another workspace: team {OTHER_TEAM}" in caplog.text
    time.sleep(0.3)
    assert len(local.slack.calls_to("response_url")) == answered  # nothing done


def test_the_own_workspace_is_served(app: WsgiApp, local: LocalBot) -> None:
    answered = len(local.slack.calls_to("response_url"))
    body = slash_command_body(
        text="help",
        response_url=local.slack.new_response_url(),
        team_id=local.slack.team_id,
        api_app_id=local.slack.app_id,
    )
    assert post(app, local, body) == (200, "")
    local.slack.wait_for("response_url", count=answered + 1)


def test_a_click_or_a_form_from_another_workspace_is_refused(app: WsgiApp, local: LocalBot) -> None:
    click = block_actions_payload(
        message_ts="1700000000.000100",
        action_id="anything",
        value="{}",
        response_url=local.slack.new_response_url(),
        team_id=OTHER_TEAM,
    )
    form = view_submission_payload(callback_id="anything", values={}, team_id=OTHER_TEAM)
    for payload in (click, form):
        assert post(app, local, payload_body(payload)) == (200, NOT_OURS)


# ---------------------------------------------------------------------------- the rules

OWN = AppIdentity(team_id="T1", app_id="A1")
GRID_WORKSPACE = AppIdentity(team_id="T1", enterprise_id="E1")
GRID_ORG = AppIdentity(team_id="E1", enterprise_id="E1", is_enterprise_install=True)


@pytest.mark.parametrize(
    ("identity", "team", "enterprise", "app_id", "refused"),
    [
        (OWN, "T1", None, "A1", None),
        (OWN, "T1", None, None, None),
        (OWN, "T2", None, "A1", "another workspace"),
        (OWN, None, None, "A1", "another workspace"),
        (OWN, "T1", None, "A2", "another app"),
        # A workspace-level install in a Grid org serves that workspace only.
        (GRID_WORKSPACE, "T1", "E1", None, None),
        (GRID_WORKSPACE, "T2", "E1", None, "another workspace"),
        (GRID_WORKSPACE, "T1", "E2", None, "another Enterprise Grid org"),
        # An org-wide install serves every workspace of its org, none outside it.
        (GRID_ORG, "T7", "E1", None, None),
        (GRID_ORG, None, "E1", None, None),
        (GRID_ORG, "T7", "E2", None, "another Enterprise Grid org"),
        (GRID_ORG, "T7", None, None, "another Enterprise Grid org"),
    ],
)
def test_which_requests_are_the_apps_own(
    identity: AppIdentity,
    team: str | None,
    enterprise: str | None,
    app_id: str | None,
    refused: str | None,
) -> None:
    assert identity.refusal(team_id=team, enterprise_id=enterprise, api_app_id=app_id) == refused


def test_the_identity_is_what_auth_test_says() -> None:
    grid = {
        "ok": True,
        "team_id": "E1",
        "enterprise_id": "E1",
        "is_enterprise_install": True,
        "app_id": "A1",
        "bot_id": "B1",
    }
    assert AppIdentity.from_auth_test(grid) == AppIdentity(
        team_id="E1", enterprise_id="E1", is_enterprise_install=True, app_id="A1"
    )
    plain = {"ok": True, "team_id": "T1", "user_id": "U1", "is_enterprise_install": False}
    assert AppIdentity.from_auth_test(plain) == AppIdentity(team_id="T1")
