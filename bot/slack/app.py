"""The Bolt app, built from what the composition root (bot/app) hands it: every listener wired
explicitly, so ``grep`` finds each entry point."""

from __future__ import annotations

import logging
import secrets

from slack_bolt import App
from slack_sdk import WebClient

from bot.core.workers import Workers
from bot.slack import listeners
from bot.slack.handover import remember_request
from bot.slack.identity import IdentityKeeper, bolt_logger
from bot.slack.origin import console_origin
from bot.slack.replay import RecentSignatures, replay_guard
from bot.slack.routes import Routes
from bot.slack.services import Services
from bot.slack.workspace import workspace_guard

log = logging.getLogger(__name__)


def build_app(
    *,
    web_client: WebClient,
    identity: IdentityKeeper,
    signing_secret: str | None,
    workers: Workers,
    services: Services,
    console_key: str | None = None,
) -> tuple[App, Routes]:
    """The app and what it listens to (bot/tools/manifest_check.py reads the routes)."""
    app = App(
        client=web_client,
        # Bolt would ask auth.test itself and stop if Slack is down: the keeper knows instead.
        authorize=identity,
        before_authorize=identity.gate,
        # Without a signing secret (Socket Mode needs none) HTTP requests are checked against
        # a random one nobody knows, so an HTTP endpoint left reachable accepts nothing.
        signing_secret=signing_secret or secrets.token_hex(32),
        # Listeners run on the request thread and ack at once; slow work goes to `workers`.
        process_before_response=True,
        # Always on: Bolt skips it for Socket Mode traffic (authenticated by the app token's
        # connection) and checks every HTTP request, whatever the mode.
        request_verification_enabled=True,
        logger=bolt_logger(),
    )
    # First of our middleware: it counts a request from its start to its ack.
    app.use(workers.priority.middleware)
    # Who the bot token belongs to: only its workspace is served.
    app.use(workspace_guard(identity.workspace))
    app.use(replay_guard(RecentSignatures()))
    app.use(remember_request)
    if console_key:
        app.use(console_origin(console_key))
    routes = Routes(app)
    listeners.register(routes, services)

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a Slack listener", exc_info=error)

    return app, routes
