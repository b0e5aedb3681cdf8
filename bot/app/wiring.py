"""The composition root's wiring: the store, the Airflow clients, the core services and the
Slack app, built once and handed to each other. Nothing below this package builds any of them;
each takes what it needs (bot/slack/app.py builds the Bolt app from what it is handed)."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from slack_bolt import App
from slack_sdk import WebClient

from bot.airflow import AirflowClient
from bot.airflow.clients import clients_for
from bot.config import Config
from bot.config.settings import Settings
from bot.core.alerts import AlertButtons
from bot.core.answer_claims import AnswerClaims
from bot.core.approvals import Approvals
from bot.core.audit import Audit
from bot.core.context import Contexts
from bot.core.follower import Follower
from bot.core.hitl import HitlButtons
from bot.core.housekeeping import Housekeeper
from bot.core.permissions import Permissions
from bot.core.subscriptions import SubscriptionBook
from bot.core.verbs import Offer
from bot.core.watcher import Watcher
from bot.core.workers import Workers
from bot.slack.app import build_app
from bot.slack.handover import HandOver
from bot.slack.identity import IdentityKeeper
from bot.slack.journal import RequestJournal
from bot.slack.outbox import SlackMessenger
from bot.slack.routes import Routes
from bot.slack.services import Services
from bot.slack.usergroups import UserGroups
from bot.slack.web import make_web_client
from bot.store import Retention, Store
from commands import REGISTRY

log = logging.getLogger(__name__)
# Within gunicorn's graceful_timeout (30 s, as Heroku's SIGTERM-to-SIGKILL), with time left
# to close.
DRAIN_SECONDS = 20.0


@dataclass
class Bot:
    """The app and what it owns, so a server (or a test) can shut it down cleanly."""

    app: App
    settings: Settings
    workers: Workers
    store: Store
    follower: Follower
    watcher: Watcher
    housekeeper: Housekeeper
    clients: Mapping[str, AirflowClient] = field(default_factory=dict)
    groups: UserGroups | None = None  # the user-group cache behind every permission check
    routes: Routes | None = None  # what the app listens to (bot/tools/manifest_check.py)
    messenger: SlackMessenger | None = None  # the outbox
    handover: HandOver | None = None
    journal: RequestJournal | None = None
    identity: IdentityKeeper | None = None  # who the token is, learnt late if Slack is down

    def start_background(self) -> None:
        """Start the worker threads, following runs, watching Airflow, the outbox and pruning
        the store; in each serving process, after gunicorn forks it."""
        if self.journal is not None:
            self.journal.start()
        self.workers.start()
        self.follower.start()
        self.watcher.start()
        self.housekeeper.start()
        if self.messenger is not None:
            self.messenger.start()
        if self.identity is not None:
            self.identity.start()

    def drain(self, grace_seconds: float = DRAIN_SECONDS) -> None:
        """The process is told to stop (SIGTERM): take no more work, hand the acknowledged
        requests not started over to the next process at once, give those running
        ``grace_seconds`` to finish, the outbox sending meanwhile, and hand over those still
        running then, unless they may have sent Airflow a write (those finish here, or are
        reported as unknown by the process that finds them after this one is gone). Nothing
        more: the process exits next, and what the background threads hold (a follow's or
        the watch's lease, a message being tried) lapses to another process, as when one
        dies. Joining them would spend Heroku's 30 s waiting out a follow's stream."""
        unstarted = self.workers.take_unstarted()
        journal = self.journal
        if journal is not None and unstarted:
            handed = journal.release(unstarted)
            log.info("handed %d acknowledged requests over to the next process", handed)
        if not self.workers.wait_idle(grace_seconds):
            running = self.workers.in_flight
            handed = journal.release() if journal is not None else 0
            log.warning("%d requests were still running after %.0f s at shutdown: handed %d "
                        "acknowledged requests over to the next process", running,
                        grace_seconds, handed)  # fmt: skip
        if journal is not None:
            journal.close()

    def close(self, *, wait: bool = True) -> None:
        if self.identity is not None:
            self.identity.stop()
        self.follower.stop()
        self.watcher.stop()
        self.housekeeper.stop()
        if self.messenger is not None:
            self.messenger.stop()
        self.workers.shutdown(wait=wait)
        if self.journal is not None:
            self.journal.close()
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
    processes: int = 1,
    console_key: str | None = None,
) -> Bot:
    """The app and its parts. The store's schema must be migrated already (see startup).

    ``processes``: how many processes gunicorn will fork from this one, sharing the
    deployments' budgets of calls in flight. ``console_key``: only for the console's local bot
    (bot/tools/localbot.py), whose requests carrying it are audited as the console's."""
    web_client = web_client or make_web_client(settings.slack_bot_token, settings.slack_api_url)
    workers = workers or Workers(threads=settings.worker_threads, max_pending=settings.max_pending)
    clients = (
        clients
        if clients is not None
        else clients_for(config, pool_size=settings.worker_threads, processes=processes)
    )
    # auth.test once, briefly: a refused token raises TokenRefused; Slack not answering does not
    # stop the start (bot/slack/identity.py).
    identity = IdentityKeeper(token=settings.slack_bot_token, base_url=web_client.base_url,
                              database_url=settings.database_url, store=store)  # fmt: skip
    identity.start_up()
    store = store or Store(settings.database_url)
    messenger = SlackMessenger(store, web_client, retry_minutes=settings.outbox_retry_minutes)
    journal = RequestJournal(store, journal_dir(settings), owner=lambda: messenger.owner)
    groups = UserGroups(web_client)
    book = SubscriptionBook(config, store)
    contexts = Contexts(
        config=config,
        verbs=REGISTRY,
        permissions=Permissions(config, groups, open_verbs=REGISTRY.open),
        clients=clients,
        subscriptions=book,
        claims=AnswerClaims(store, verb=REGISTRY.offered(Offer.ANSWER)),
        acks=store,
    )
    audit = Audit(store, messenger=messenger, channel=config.audit_channel)
    follower = Follower(
        store=store,
        clients=clients,
        messenger=messenger,
        clear_action=REGISTRY.offered(Offer.CLEAR),
        limit_seconds=settings.follow_limit_minutes * 60.0,
    )
    watcher = Watcher(
        store=store,
        clients=clients,
        book=book,
        messenger=messenger,
        buttons=AlertButtons.offered_by(REGISTRY),
        interval_seconds=settings.watch_interval_seconds,
        hitl_buttons=HitlButtons.offered_by(REGISTRY),
    )
    approvals = Approvals(
        contexts=contexts,
        store=store,
        messenger=messenger,
        groups=groups,
        audit=audit,
        follower=follower,
    )
    services = Services(
        contexts=contexts,
        store=store,
        messenger=messenger,
        web=web_client,
        workers=workers,
        audit=audit,
        approvals=approvals,
        follower=follower,
        journal=journal,
    )
    app, routes = build_app(
        web_client=web_client,
        identity=identity,
        signing_secret=settings.slack_signing_secret,
        workers=workers,
        services=services,
        console_key=console_key,
    )
    retention = settings.audit_retention_days
    housekeeper = Housekeeper(
        store, Retention(audit=None if retention is None else timedelta(days=retention))
    )
    handover = HandOver(store, app, owner=lambda: messenger.owner,
                        accepting=lambda: workers.accepting)  # fmt: skip
    messenger.tick_hooks.append(handover.pick_up)
    bot = Bot(
        app=app,
        settings=settings,
        workers=workers,
        store=store,
        follower=follower,
        watcher=watcher,
        housekeeper=housekeeper,
        clients=clients,
        groups=groups,
        routes=routes,
        messenger=messenger,
        handover=handover,
        journal=journal,
        identity=identity,
    )
    return bot


def journal_dir(settings: Settings) -> Path:
    """Where the processes of this machine write down their requests: ``JOURNAL_DIR``, or a
    folder of the system's temporary one named for the store (two bots on one machine, each
    with its own store, must not carry on each other's requests)."""
    if settings.journal_dir:
        return Path(settings.journal_dir)
    store = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "airflow-chatops" / f"journal-{store}"
