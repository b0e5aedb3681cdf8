"""Socket Mode with the same size and depth limits as HTTP requests (bot/serve/request_limits.py).

slack_sdk's built-in client hands each WebSocket text message to ``enqueue_message``, and a
worker thread then parses it with ``json.loads`` and hands it to Bolt: that is where a message
is checked, before anything parses it. A message over ``MAX_REQUEST_BYTES`` or nested too deep
is dropped with a log line, unacknowledged (its ``envelope_id`` is inside what is not parsed).
The frame itself has been read by then: its peer is Slack, over the TLS connection the app
token opened, so this guards against what Slack relays, not against strangers.

The first connection is tried until it opens: slack_sdk gives up at once when
``apps.connections.open`` fails, and only reconnects by itself once it has been connected.
Slack not answering (the network, 5xx) is waited out; a refused app token stops the start.
"""

from __future__ import annotations

import logging
import time
from http.client import HTTPException

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.core.json_depth import too_deep
from bot.serve.request_limits import Limits
from bot.slack.identity import MAX_DELAY_S, REFUSED

log = logging.getLogger(__name__)
# A refused token, or (not_allowed_token_type) a bot token (xoxb-) given as the app token.
SOCKET_REFUSALS = REFUSED | {"not_allowed_token_type"}


class AppTokenRefused(Exception):
    """Slack refused SLACK_APP_TOKEN; ``str()`` is Slack's error code."""

    def message(self) -> str:
        return (
            f"The bot cannot start: Slack refused SLACK_APP_TOKEN ({self}). Generate an "
            "app-level token (xapp-...) with the connections:write scope on the app's Basic "
            "Information page."
        )


class LimitedSocketModeClient(SocketModeClient):
    """slack_sdk's built-in client, dropping messages beyond ``limits`` before they are parsed."""

    def __init__(self, *, app_token: str, app: App, limits: Limits) -> None:
        super().__init__(
            app_token=app_token, logger=app.logger, web_client=app.client, proxy=app.client.proxy
        )
        self.limits = limits

    def enqueue_message(self, message: str) -> None:
        why = refusal(message, self.limits)
        if why is not None:
            log.warning("dropped a Socket Mode message: %s", why)
            return
        super().enqueue_message(message)


def refusal(message: str, limits: Limits) -> str | None:
    """Why a Socket Mode text message goes no further, or None."""
    # A character is at least one byte: the cheap test first, then the exact one.
    if len(message) > limits.max_bytes or len(message.encode("utf-8")) > limits.max_bytes:
        return f"larger than {limits.max_bytes} bytes"
    if too_deep(message, limits.max_depth):
        return f"JSON nested more than {limits.max_depth} deep"
    return None


class LimitedSocketModeHandler(SocketModeHandler):
    """Bolt's built-in Socket Mode adapter on a :class:`LimitedSocketModeClient`."""

    def __init__(self, app: App, app_token: str, *, limits: Limits) -> None:
        # Not super().__init__: it would start a second client's threads only to discard it.
        self.app = app
        self.app_token = app_token
        self.client = LimitedSocketModeClient(app_token=app_token, app=app, limits=limits)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def connect(self) -> None:
        """Connect, waiting out Slack not answering; raises :class:`AppTokenRefused`."""
        delay = 1.0
        while True:
            try:
                self.client.connect()
                return
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in SOCKET_REFUSALS:
                    raise AppTokenRefused(error) from None
                why = f"HTTP {exc.response.status_code if exc.response is not None else '?'}"
            except (OSError, HTTPException) as exc:
                why = f"{type(exc).__name__}: {exc}"
            self.client.wss_uri = None  # ask for a new URL next time
            log.warning("Slack did not open a Socket Mode connection (%s): trying again in "
                        "%.0f s", why, delay)  # fmt: skip
            time.sleep(delay)  # SIGTERM ends it (bot/__main__.py)
            delay = min(delay * 2, MAX_DELAY_S)
