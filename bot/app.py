"""The Bolt app factory: every listener wired explicitly, so ``grep`` finds each entry point."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient

from bot.airflow import AirflowClient
from bot.audit import Audit
from bot.clients import clients_for
from bot.config import Config
from bot.interactive import ACTION_IDS, TRIGGER_FORM, Interactive
from bot.pending import PendingActions
from bot.permissions import Permissions
from bot.posting import Poster
from bot.settings import Settings
from bot.slack_web import make_web_client
from bot.slash import SlashCommand
from bot.store import Store
from bot.usergroups import UserGroups
from bot.workers import Workers

log = logging.getLogger(__name__)
COMMAND = "/airflow"


@dataclass
class Bot:
    """The app and what it owns, so a server (or a test) can shut it down cleanly."""

    app: App
    settings: Settings
    workers: Workers
    store: Store
    clients: Mapping[str, AirflowClient] = field(default_factory=dict)

    def close(self, *, wait: bool = True) -> None:
        self.workers.shutdown(wait=wait)
        for client in self.clients.values():
            client.close()
        self.store.close()


def create_bot(
    settings: Settings,
    config: Config,
    *,
    web_client: WebClient | None = None,
    clients: Mapping[str, AirflowClient] | None = None,
    workers: Workers | None = None,
    store: Store | None = None,
) -> Bot:
    """The app and its parts. The store's schema must be migrated already (see startup)."""
    web_client = web_client or make_web_client(settings.slack_bot_token, settings.slack_api_url)
    workers = workers or Workers(threads=settings.worker_threads, max_pending=settings.max_pending)
    clients = (
        clients if clients is not None else clients_for(config, pool_size=settings.worker_threads)
    )
    socket_mode = settings.slack_app_token is not None
    app = App(
        client=web_client,
        signing_secret=settings.slack_signing_secret or "",
        # Listeners run on the request thread and ack at once; slow work goes to `workers`.
        process_before_response=True,
        # Socket Mode traffic is authenticated by the app token's connection, not signatures.
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("slack_bolt"),
    )
    store = store or Store(settings.database_url)
    poster = Poster(web_client)
    groups = UserGroups(web_client)
    permissions = Permissions(config, groups)
    audit = Audit(store, poster=poster, channel=config.audit_channel)
    pending = PendingActions(
        config=config,
        clients=clients,
        store=store,
        poster=poster,
        permissions=permissions,
        groups=groups,
        audit=audit,
    )
    slash = SlashCommand(
        config=config,
        clients=clients,
        poster=poster,
        workers=workers,
        permissions=permissions,
        audit=audit,
        store=store,
        pending=pending,
    )
    app.command(COMMAND)(slash.on_command)
    interactive = Interactive(
        config=config,
        clients=clients,
        store=store,
        poster=poster,
        workers=workers,
        permissions=permissions,
        audit=audit,
        pending=pending,
        web_client=web_client,
    )
    for action_id in ACTION_IDS:
        app.action(action_id)(interactive.on_action)
    app.view(TRIGGER_FORM)(interactive.on_submit)

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a Slack listener", exc_info=error)

    return Bot(app=app, settings=settings, workers=workers, store=store, clients=clients)
