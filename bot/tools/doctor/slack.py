"""The doctor's checks of Slack: the bot token and its scopes, the clock, the app token."""

from __future__ import annotations

import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.settings import Settings
from bot.tools.doctor.remote import DOCTOR_TIMEOUT_S, check_clock, reason_of
from bot.tools.doctor.report import Report

# Slack refuses a request signed more than 5 minutes ago by its clock, and the bot refuses one
# more than 5 minutes old by its own: past that, every command fails.
SLACK_CLOCK_LIMIT_S = 300
_SLACK_WHERE = "the Slack app's OAuth & Permissions page"
_TOKEN_ERRORS = {
    "invalid_auth": "Slack does not know this token",
    "not_authed": "no token was sent",
    "account_inactive": "the token's workspace or user was deactivated",
    "token_revoked": "the token was revoked (the app was uninstalled or reinstalled)",
    "token_expired": "the token expired (token rotation is on: turn it off in the manifest)",
    "not_allowed_token_type": "this kind of token is not allowed here",
}


def check_slack(settings: Settings, needed_scopes: list[str], report: Report) -> None:
    api_url = settings.slack_api_url or WebClient.BASE_URL
    client = WebClient(token=settings.slack_bot_token, base_url=api_url, timeout=DOCTOR_TIMEOUT_S)
    sent = time.time()
    try:
        resp = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        why = _TOKEN_ERRORS.get(error, f"Slack answered {error}")
        report.fail(
            "SLACK_BOT_TOKEN",
            f"refused by Slack ({error}: {why}); copy the Bot User OAuth Token (xoxb-...) "
            f"from {_SLACK_WHERE}, after installing the app to the workspace",
        )
        return
    except (SlackClientError, OSError) as exc:
        report.fail("SLACK_API_URL", f"cannot reach Slack at {api_url}: {reason_of(exc)}")
        return
    received = time.time()
    report.ok(
        "SLACK_BOT_TOKEN",
        f"accepted: bot @{resp.get('user')} in workspace {resp.get('team')} "
        f"({resp.get('team_id')})",
    )
    headers = {k.lower(): v for k, v in (resp.headers or {}).items()}
    _check_scopes(headers.get("x-oauth-scopes"), needed_scopes, report)
    check_clock(
        "clock vs Slack",
        headers.get("date"),
        (sent + received) / 2,
        report,
        warn_s=SLACK_CLOCK_LIMIT_S / 5,
        limit_s=SLACK_CLOCK_LIMIT_S,
        why="Slack's signed requests are refused when more than 5 minutes old by this clock",
    )
    if settings.slack_app_token:
        _check_app_token(settings.slack_app_token, api_url, report)


def _check_scopes(header: str | None, needed: list[str], report: Report) -> None:
    if header is None:
        report.warn("Slack scopes", "Slack did not say which scopes the token has; not checked")
        return
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in needed if s not in granted]
    if missing:
        report.fail(
            "Slack scopes",
            f"the token lacks {', '.join(missing)}, which manifest.yml asks for: add "
            f"{'it' if len(missing) == 1 else 'them'} on {_SLACK_WHERE} > Scopes (or update "
            "the app from manifest.yml), then reinstall the app to the workspace",
        )
        return
    report.ok("Slack scopes", f"the token has {', '.join(sorted(needed))}")


def _check_app_token(app_token: str, api_url: str, report: Report) -> None:
    client = WebClient(token=app_token, base_url=api_url, timeout=DOCTOR_TIMEOUT_S)
    try:
        # Hands out a Socket Mode URL that nobody uses; it expires by itself.
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        report.fail(
            "SLACK_APP_TOKEN",
            f"refused by Slack ({error}); create an app-level token with connections:write "
            "under Basic Information > App-Level Tokens, and turn on Socket Mode",
        )
        return
    except (SlackClientError, OSError) as exc:
        report.fail("SLACK_APP_TOKEN", f"cannot reach Slack at {api_url}: {reason_of(exc)}")
        return
    report.ok("SLACK_APP_TOKEN", "accepted: Socket Mode can connect")
