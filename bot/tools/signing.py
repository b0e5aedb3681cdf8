"""Build and send correctly signed Slack requests (slash commands, interactivity).

The console (`python -m bot console`) sends them to the bot; the tests do too.

The ``*_fields`` / ``*_payload`` builders give the dicts Slack sends (also what a Socket Mode
envelope carries as ``payload``); the ``*_body`` functions give the signed HTTP body bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, ParamSpec
from urllib.parse import urlencode

import requests

P = ParamSpec("P")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Slack still sends the deprecated `token` field; nothing checks it.
VERIFICATION_TOKEN = "verification-token-unused"  # noqa: S105 - not a secret


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends: ``v0=`` + HMAC-SHA256(secret, ``v0:{timestamp}:{body}``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode("ascii") + b":" + body
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Signature": f"v0={digest}",
        "X-Slack-Request-Timestamp": str(ts),
        "Content-Type": FORM_CONTENT_TYPE,
    }


def new_trigger_id() -> str:
    """A trigger id shaped like Slack's (``13345224609.738474920.8088930838d88f008e0``)."""
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def _name_from_id(object_id: str) -> str:
    return re.sub(r"^[A-Z]0*", "", object_id).lower() or object_id.lower()


def channel_name_for(channel_id: str) -> str:
    """What Slack sends as ``channel_name``: ``directmessage`` / ``privategroup`` for DMs and
    private channels, else a name (derived from the id here: C0GENERAL -> general)."""
    if channel_id.startswith("D"):
        return "directmessage"
    if channel_id.startswith("G"):
        return "privategroup"
    return _name_from_id(channel_id)


def slash_command_fields(
    *,
    text: str,
    response_url: str,
    user_id: str = "U0ALICE",
    user_name: str | None = None,
    channel_id: str = "C0GENERAL",
    channel_name: str | None = None,
    command: str = "/airflow",
    team_id: str = "T0TEST",
    team_domain: str = "test-team",
    api_app_id: str = "A0TEST",
    trigger_id: str | None = None,
    enterprise_id: str | None = None,
) -> dict[str, str]:
    """The form fields of a slash command, as Slack sends them."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
    }
    if enterprise_id is not None:
        fields.update(enterprise_id=enterprise_id, enterprise_name="Test Grid")
    fields.update(
        {
            "channel_id": channel_id,
            "channel_name": channel_name
            if channel_name is not None
            else channel_name_for(channel_id),
            "user_id": user_id,
            "user_name": user_name if user_name is not None else _name_from_id(user_id),
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id if trigger_id is not None else new_trigger_id(),
        }
    )
    return fields


def block_actions_payload(
    *,
    message_ts: str,
    action_id: str,
    value: str,
    response_url: str,
    user_id: str = "U0ALICE",
    user_name: str | None = None,
    channel_id: str = "C0GENERAL",
    thread_ts: str | None = None,
    block_id: str = "actions",
    trigger_id: str | None = None,
    team_id: str = "T0TEST",
    team_domain: str = "test-team",
    api_app_id: str = "A0TEST",
    message: dict[str, Any] | None = None,
    ephemeral: bool = False,
    button_text: str = "Button",
    bot_user_id: str = "U0BOT",
    bot_id: str = "B0BOT",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click, shaped like Slack's.

    ``message`` is the message the button was on (e.g. ``standin.message(channel, ts)``); by
    default a minimal bot message. Ephemeral messages carry no ``message`` (and no ts Slack
    would let you thread under): pass ``ephemeral=True``.
    """
    name = user_name if user_name is not None else _name_from_id(user_id)
    action_ts = f"{time.time():.6f}"
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": ephemeral,
    }
    if thread_ts is not None and not ephemeral:
        container["thread_ts"] = thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id if trigger_id is not None else new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name_for(channel_id)},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    if not ephemeral:
        if message is None:
            message = {
                "type": "message",
                "user": bot_user_id,
                "bot_id": bot_id,
                "app_id": api_app_id,
                "team": team_id,
                "text": "",
                "ts": message_ts,
                "blocks": [],
            }
            if thread_ts is not None:
                message["thread_ts"] = thread_ts
        payload["message"] = message
    return payload


def view_submission_payload(
    *,
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]],
    user_id: str = "U0ALICE",
    user_name: str | None = None,
    private_metadata: str = "",
    view_id: str = "V000000001",
    trigger_id: str | None = None,
    team_id: str = "T0TEST",
    team_domain: str = "test-team",
    api_app_id: str = "A0TEST",
    blocks: list[dict[str, Any]] | None = None,
    title: str = "Modal",
    bot_id: str = "B0BOT",
) -> dict[str, Any]:
    """A ``view_submission`` payload. ``values`` is ``view.state.values``:
    ``{block_id: {action_id: {"type": "plain_text_input", "value": "..."}}}``."""
    name = user_name if user_name is not None else _name_from_id(user_id)
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id if trigger_id is not None else new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks if blocks is not None else [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": secrets.token_hex(10),
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def _form_body(build: Callable[P, dict[str, str]]) -> Callable[P, bytes]:
    def body(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return urlencode(build(*args, **kwargs)).encode("utf-8")

    body.__doc__ = f"``{build.__name__}`` form-urlencoded, as the HTTP body Slack POSTs."
    return body


def _payload_body(build: Callable[P, dict[str, Any]]) -> Callable[P, bytes]:
    def body(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return urlencode({"payload": json.dumps(build(*args, **kwargs))}).encode("utf-8")

    body.__doc__ = f"``{build.__name__}`` as Slack POSTs it: a ``payload=<json>`` form field."
    return body


slash_command_body = _form_body(slash_command_fields)
block_actions_body = _payload_body(block_actions_payload)
view_submission_body = _payload_body(view_submission_payload)


def post_signed(
    url: str, body: bytes, secret: str, timestamp: int | None = None, timeout: float = 10.0
) -> tuple[int, str]:
    """POST ``body`` to ``url`` signed with ``secret``; returns (status, text)."""
    response = requests.post(url, data=body, headers=sign(secret, body, timestamp), timeout=timeout)
    return response.status_code, response.text
