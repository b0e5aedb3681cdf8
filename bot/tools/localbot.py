"""The real bot on 127.0.0.1, wired to a local stand-in of Slack: what the console talks to.

The same Bolt app and WSGI application the Procfile's ``web`` process serves, built from the
same settings and config, answering signed HTTP requests exactly as it answers Slack's. Only
Slack is replaced: the bot posts to ``bot.tools.localslack.SlackStandin``, whose record of calls the
console renders. Nothing here needs a Slack workspace or token.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from bot.app import Bot, create_bot, load_all, migrate_store, secrets_of
from bot.config import Config
from bot.config.settings import Settings
from bot.serve.logs import configure_logging
from bot.serve.wsgi import EVENTS_PATH, wsgi_app
from bot.slack.origin import CONSOLE_HEADER
from bot.tools.localslack import SlackStandin
from bot.tools.signing import sign, slash_command_fields

# What Slack gives the app before showing the user "operation_timeout".
SLACK_ACK_DEADLINE_S = 3.0


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer to one request, and how long it took."""

    status: int
    body: str
    seconds: float

    def json(self) -> dict[str, Any]:
        """The ack's JSON body ({} when empty, or not an object)."""
        try:
            value = json.loads(self.body) if self.body.strip() else {}
        except ValueError:
            return {"text": self.body}
        return value if isinstance(value, dict) else {}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the bot's own log says what happened; access lines would only clutter it


class LocalBot:
    """Start with :meth:`start`; ``close()`` when done."""

    def __init__(
        self,
        *,
        slack: SlackStandin,
        bot: Bot,
        config: Config,
        signing_secret: str,
        console_key: str,
    ) -> None:
        self.slack = slack
        self.bot = bot
        self.config = config
        self._secret = signing_secret
        self._console_key = console_key
        self._server = make_server(
            "127.0.0.1", 0, wsgi_app(bot), server_class=_Server, handler_class=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{EVENTS_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._session = requests.Session()
        self._session.trust_env = False  # a proxy from the environment must not see localhost

    @classmethod
    def start(cls, env: Mapping[str, str], *, configure_logs: bool = False) -> LocalBot:
        """Build the bot from ``env`` (settings and ``CHATOPS_CONFIG``) against a local Slack.

        Slack's own settings in ``env`` are ignored: tokens, API URL and Socket Mode. Raises
        ``bot.app.StartupError`` listing every problem of the settings and the config.
        """
        slack = SlackStandin(
            bot_token=f"xoxb-local-{secrets.token_hex(12)}",
            app_token=f"xapp-local-{secrets.token_hex(12)}",
            team_name="Local Slack",
            team_domain="local",
            bot_user_name="airflow",
            socket_ping_interval=None,
        ).start()
        try:
            signing_secret = secrets.token_hex(16)
            # What the console's own requests carry, so the audit trail says they came from it.
            console_key = secrets.token_hex(16)
            local_env = {k: v for k, v in env.items() if k != "SLACK_APP_TOKEN"}
            local_env.update(
                SLACK_BOT_TOKEN=slack.bot_token,
                SLACK_SIGNING_SECRET=signing_secret,
                SLACK_API_URL=slack.api_url,
            )
            settings, config = load_all(local_env)
            if configure_logs:
                configure_logging(secrets_of(settings, config))
            migrate_store(settings.database_url)
            bot = create_bot(settings, config, console_key=console_key)
            # Background work (following triggered runs), where this version of the bot has it.
            start_background = getattr(bot, "start_background", None)
            if callable(start_background):
                start_background()
        except BaseException:
            slack.stop()
            raise
        return cls(
            slack=slack,
            bot=bot,
            config=config,
            signing_secret=signing_secret,
            console_key=console_key,
        )

    @property
    def settings(self) -> Settings:
        return self.bot.settings

    @property
    def busy(self) -> bool:
        """Whether the bot still has work in flight (an Airflow call, a reply being posted, a
        message of the outbox due now, requests being moved from the journal to the store)."""
        journal = self.bot.journal
        return (
            self.bot.workers.in_flight > 0
            or self.bot.store.messages_owed_now() > 0
            or (journal is not None and journal.moving)
        )

    def slash(
        self, text: str, *, user: str, channel: str, response_url: str, console: bool = False
    ) -> Answer:
        """Send ``/airflow <text>`` as Slack would, signed; the bot's ack comes back.

        ``console``: sent by the console, and audited as such (else as from Slack)."""
        fields = slash_command_fields(
            text=text,
            response_url=response_url,
            user_id=user,
            channel_id=channel,
            team_id=self.slack.team_id,
            team_domain=self.slack.team_domain,
            api_app_id=self.slack.app_id,
        )
        return self._post(urlencode(fields).encode("utf-8"), console=console)

    def interact(self, payload: dict[str, Any], *, console: bool = False) -> Answer:
        """Send an interactivity payload (``block_actions``, ``view_submission``) as Slack does."""
        body = urlencode({"payload": json.dumps(payload)}).encode("utf-8")
        return self._post(body, console=console)

    def _post(self, body: bytes, *, console: bool) -> Answer:
        started = time.monotonic()
        headers = sign(self._secret, body)
        if console:
            headers[CONSOLE_HEADER] = self._console_key
        resp = self._session.post(self.url, data=body, headers=headers, timeout=30)
        return Answer(resp.status_code, resp.text, time.monotonic() - started)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()
        self.bot.close(wait=False)
        self.slack.stop()
