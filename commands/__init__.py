"""The verb registry: one module per verb, each declaring everything about it in its ``VERB``
(bot/core/verbs.py says what a verb declares). A command takes a ``Context`` and returns a
``Reply``, with no Slack I/O. A new verb is one new module, added to ``REGISTRY`` below.
"""

from __future__ import annotations

from bot.core.alerts import AlertButtons
from bot.core.context import Context
from bot.core.parser import Command, parse_command
from bot.core.verbs import Registry, Verb
from commands import (
    clear,
    deployments,
    help,
    logs,
    mark,
    pause,
    status,
    subscribe,
    subscriptions,
    trigger,
    unpause,
    unsubscribe,
    whoami,
)
from commands import list as list_
from commands.failures import airflow_failure

__all__ = ["ALERT_BUTTONS", "REGISTRY", "Context", "Verb", "parse"]

REGISTRY = Registry(
    # In the order help lists them.
    verbs=(
        help.VERB,
        deployments.VERB,
        list_.VERB,
        status.VERB,
        logs.VERB,
        trigger.VERB,
        pause.VERB,
        unpause.VERB,
        whoami.VERB,
        subscribe.VERB,
        unsubscribe.VERB,
        subscriptions.VERB,
        clear.VERB,
        mark.VERB,
    ),
    airflow_failure=airflow_failure,
    when_empty=help.VERB.name,
)

# The buttons under a failure alert (bot/core/alerts.py): the verbs that declare them.
ALERT_BUTTONS = AlertButtons(logs=logs.LOGS, clear=clear.BUTTON, mark=mark.BUTTON)


def parse(text: str, *, deployments: list[str], default_deployment: str | None) -> Command:
    """``/airflow <text>`` by the registry's grammar (bot/core/parser.py)."""
    return parse_command(
        text, REGISTRY, deployments=deployments, default_deployment=default_deployment
    )
