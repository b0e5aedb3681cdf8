"""Who the bot token belongs to, known even while Slack is unreachable.

Bolt would ask ``auth.test`` when the app is built and stop if it fails, whatever the reason:
a bot restarted during a Slack incident then exits, and a host that restarts crashed processes
with growing delays keeps it down long after Slack is back. Here the two failures part:

* Slack refused the token (``invalid_auth``, ``not_authed``, ``token_revoked``,
  ``token_expired``, ``account_inactive``): :class:`TokenRefused`. At start-up the process stops
  with the message saying which setting is wrong; found later, the process stops too, so its
  next start says so.
* Slack did not answer (the network, a timeout, 429, 5xx, any other error): the bot starts
  anyway, with the identity ``auth.test`` last gave for this token (kept in the store), and
  asks again in the background, with backoff, until Slack answers. With no identity kept (a
  first start) requests are told "starting up" until one is known; with one, the workspace
  check (bot/slack/workspace.py) refuses other workspaces' requests as always.

:class:`IdentityKeeper` is Bolt's ``authorize`` (the identity, with no call to Slack on the
request path) and, as ``before_authorize``, the gate that answers "starting up".
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.core.loop import STOP, After, Loop
from bot.slack.workspace import AppIdentity
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

# Slack's answers that mean the token itself is refused: asking again cannot help.
REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
# A slow Slack must not hold the start (Heroku gives a web process 60 s to bind $PORT); the
# background asks again soon anyway.
START_TIMEOUT_S = 5
ASK_TIMEOUT_S = 10
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
# What the user sees (a slash command shows a 200's text to the one who typed it).
STARTING_UP = "The Airflow bot is starting up and cannot reach Slack yet: try again in a minute."
# auth.test's fields the bot uses; the rest (names, URLs) are not kept.
KEPT_FIELDS = ("team_id", "enterprise_id", "is_enterprise_install", "app_id", "user_id", "bot_id")
SCOPES = "x-oauth-scopes"


class TokenRefused(Exception):
    """Slack answered that the bot token is not valid; ``str()`` is Slack's error code."""


class SlackUnreachable(Exception):
    """Slack did not confirm the token: no answer, or an answer saying Slack is in trouble."""


def token_refused_message(error: str) -> str:
    return (
        f"The bot cannot start: Slack refused SLACK_BOT_TOKEN ({error}). "
        "Copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page."
    )


@dataclass(frozen=True)
class Identity:
    """What ``auth.test`` says of the bot token."""

    workspace: AppIdentity
    bot_user_id: str | None = None
    bot_id: str | None = None
    scopes: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Identity:
        def text(key: str) -> str | None:
            value = record.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            workspace=AppIdentity.from_auth_test(record),
            bot_user_id=text("user_id"),
            bot_id=text("bot_id"),
            scopes=text(SCOPES),
        )

    @staticmethod
    def record_of(data: dict[str, Any], scopes: str | None) -> dict[str, Any]:
        record = {key: data[key] for key in KEPT_FIELDS if key in data}
        if scopes:
            record[SCOPES] = scopes
        return record

    def authorize_result(self, token: str | None, user_id: str | None) -> AuthorizeResult:
        # As Bolt builds it from auth.test (slack_bolt/middleware/authorization/internals.py).
        return AuthorizeResult(
            enterprise_id=self.workspace.enterprise_id,
            team_id=self.workspace.team_id,
            bot_id=self.bot_id,
            bot_user_id=self.bot_user_id,
            bot_token=token,
            user_id=user_id,
            bot_scopes=self.scopes,
        )


UNKNOWN = Identity(workspace=AppIdentity(team_id=None))


def ask_slack(client: WebClient) -> dict[str, Any]:
    """auth.test's answer as kept (:meth:`Identity.record_of`); raises :class:`TokenRefused`
    or :class:`SlackUnreachable`."""
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        if isinstance(error, str) and error in REFUSED:
            raise TokenRefused(error) from None
        status = exc.response.status_code if exc.response is not None else "?"
        # Slack's 5xx pages are HTML: the status says it all.
        what = error if isinstance(error, str) and not error.startswith("Received") else ""
        raise SlackUnreachable(f"HTTP {status} {what}".strip()) from None
    except (OSError, HTTPException) as exc:  # URLError, timeouts, dropped connections
        raise SlackUnreachable(f"{type(exc).__name__}: {exc}") from None
    data = response.data if isinstance(response.data, dict) else {}
    return Identity.record_of(data, response.headers.get(SCOPES))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class IdentityKeeper(Authorize):
    """Bolt's ``authorize``, its ``before_authorize`` gate (:meth:`gate`), and the background
    that learns the identity when the start could not."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        database_url: str,
        store: Store | None = None,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        """``store``: one the caller owns, used as it is; without it, a short-lived one on
        ``database_url`` for each read and write (see :meth:`_store`)."""
        super().__init__()  # type: ignore[no-untyped-call]
        self._token = token
        self._digest = token_digest(token)
        self._base_url = base_url
        self._database_url = database_url
        self._given_store = store
        self._on_refused = on_refused or stop_this_bot
        self.current: Identity | None = None
        self.confirmed = False  # auth.test answered in this process (not only the store)
        self._delay = FIRST_DELAY_S
        self._asking: WebClient | None = None
        # Asks until Slack answers, waiting longer each time; stop() does not wait for an ask
        # under way (ASK_TIMEOUT_S), the process is going.
        self._loop = Loop("slack-identity", self._ask_again, interval=MAX_DELAY_S,
                          first_wait=FIRST_DELAY_S, what="asking Slack's auth.test",
                          join_seconds=0)  # fmt: skip

    # -- at start-up -----------------------------------------------------------------------

    def start_up(self) -> None:
        """Ask Slack once, briefly; raises :class:`TokenRefused`. When Slack does not answer,
        the identity kept in the store (if any) serves until :meth:`start` learns it."""
        try:
            record = ask_slack(self._client(START_TIMEOUT_S))
        except SlackUnreachable as exc:
            self.current = self._kept()
            log.warning(
                "Slack did not answer auth.test at start-up (%s): %s; asking again in the "
                "background", exc,
                "serving as the workspace it last named" if self.current
                else "requests are told to try again until it answers",
            )  # fmt: skip
            return
        self._learn(record)

    def start(self) -> None:
        """In each serving process (after gunicorn forks it): ask until Slack answers."""
        if self.confirmed or self._loop.running:
            return
        self._delay = FIRST_DELAY_S
        self._asking = self._client(ASK_TIMEOUT_S)
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _ask_again(self) -> object:
        """One ask of the background; the next comes after twice the wait, up to
        MAX_DELAY_S, until Slack answers."""
        assert self._asking is not None
        try:
            record = ask_slack(self._asking)
        except TokenRefused as refused:
            log.error("%s Stopping.", token_refused_message(str(refused)))
            self._on_refused()
            return STOP
        except SlackUnreachable as exc:
            self._delay = min(self._delay * 2, MAX_DELAY_S)
            log.warning("Slack still does not answer auth.test (%s): asking again in %.0f s",
                        exc, self._delay)  # fmt: skip
            return After(self._delay)
        self._learn(record)
        return STOP

    def _learn(self, record: dict[str, Any]) -> None:
        identity = Identity.from_record(record)
        if self.current is not None and self.current != identity:
            log.warning("Slack names the bot token's workspace %s now (it was %s)",
                        identity.workspace, self.current.workspace)  # fmt: skip
        elif self.current is None and self._loop.running:
            log.info("Slack answered auth.test: serving workspace %s", identity.workspace.team_id)
        self.current = identity
        self.confirmed = True
        try:
            with self._store() as store:
                store.keep_identity(self._digest, record)
        except StoreError as exc:
            log.warning("could not keep the bot's identity in the store: %s", exc.kind)

    def _kept(self) -> Identity | None:
        try:
            with self._store() as store:
                record = store.last_identity(self._digest)
        except StoreError as exc:
            log.warning("could not read the bot's last identity from the store: %s", exc.kind)
            return None
        return None if record is None else Identity.from_record(record)

    @contextmanager
    def _store(self) -> Iterator[Store]:
        if self._given_store is not None:
            yield self._given_store
            return
        # Its own Store, closed at once: at start-up this runs in gunicorn's master, whose
        # database connections must not be inherited by the processes it forks.
        with closing(Store(self._database_url)) as store:
            yield store

    def _client(self, timeout: int) -> WebClient:
        # No retry handlers: the start must not wait out several tries, and the background
        # spaces its own.
        return WebClient(token=self._token, base_url=self._base_url, timeout=timeout,
                         retry_handlers=[], logger=log)  # fmt: skip

    # -- on each request -------------------------------------------------------------------

    def workspace(self) -> AppIdentity | None:
        return None if self.current is None else self.current.workspace

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        # Unknown only past the gate's refusal; the workspace check refuses it then too.
        identity = self.current or UNKNOWN
        return identity.authorize_result(self._token, user_id)

    def gate(
        self, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        """Bolt ``before_authorize`` middleware: until an identity is known, "starting up"."""
        if self.current is not None:
            return next()
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("type") == "url_verification":
            return next()  # Slack checking the request URL: no identity needed
        if body.get("type") == "event_callback":
            # An event answered with an error is sent again by Slack (in a minute, then five).
            return BoltResponse(status=503, body=STARTING_UP)
        response_url = body.get("response_url")
        if body.get("type") == "block_actions" and isinstance(response_url, str):
            # A button's answer body is not shown: say it where the clicker sees it.
            threading.Thread(target=_tell, args=(response_url,), daemon=True).start()
        return BoltResponse(status=200, body=STARTING_UP)


def _tell(response_url: str) -> None:
    try:
        WebhookClient(response_url, timeout=3).send(
            text=STARTING_UP, response_type="ephemeral", replace_original=False
        )
    except (OSError, HTTPException) as exc:  # best effort: the user may click again
        log.info("could not tell a clicker the bot is starting up: %s", type(exc).__name__)


def stop_this_bot() -> None:
    """Stop the bot whose token Slack refused. In a gunicorn worker (forked from the process
    that built the bot) the whole server stops, not only this worker, which would be forked
    again and refused again; its next start says why at once and exits with status 2."""
    target = os.getppid() if os.getpid() != _BUILT_IN else os.getpid()
    os.kill(target, signal.SIGTERM)


_BUILT_IN = os.getpid()


class _TokenSkipped(logging.Filter):
    """Bolt warns that ``token`` is ignored whenever ``authorize`` is given: here the token is
    what :class:`IdentityKeeper` authorizes with, so the warning would only mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` (or SLACK_BOT_TOKEN env variable) will be ignored" not in str(record.msg)


def bolt_logger() -> logging.Logger:
    """The logger the app gives Bolt, without its misleading warning about the token."""
    logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _TokenSkipped) for f in logger.filters):
        logger.addFilter(_TokenSkipped())
    return logger
