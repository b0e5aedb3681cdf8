"""What the listeners share: built once by ``create_bot`` (bot/slack/app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from bot.core.approvals import Approvals
from bot.core.audit import Audit
from bot.core.context import Contexts
from bot.core.follower import Follower
from bot.core.workers import Workers
from bot.slack.journal import RequestJournal
from bot.slack.outbox import SlackMessenger
from bot.store import Store


@dataclass(frozen=True)
class Services:
    contexts: Contexts  # the config, the verbs, who may do what, the Airflow clients
    store: Store
    messenger: SlackMessenger  # the outbox: the core's Messenger, and response URLs
    web: WebClient  # for what only Slack does: opening a form
    workers: Workers
    audit: Audit
    approvals: Approvals
    follower: Follower
    journal: RequestJournal  # every request acknowledged, written down before its ack
