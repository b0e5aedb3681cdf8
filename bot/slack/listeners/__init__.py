"""Bolt listeners, one module per kind of thing Slack sends: the slash command, button clicks
(actions), form submissions (views). Each registers itself with ``register(routes, services)``;
each acks at once and leaves the rest to the pipeline (bot/slack/pipeline.py) on the workers."""

from __future__ import annotations

from bot.slack.listeners import actions, commands, views
from bot.slack.routes import Routes
from bot.slack.services import Services


def register(routes: Routes, services: Services) -> None:
    commands.register(routes, services)
    actions.register(routes, services)
    views.register(routes, services)
