"""The verb registry: one module per verb, each declaring everything about it in its ``VERB``
(bot/core/verbs.py says what a verb declares). A command takes a ``Context`` and returns a
``Reply``, with no Slack I/O. A new verb is one new module, added to ``REGISTRY`` below.
"""

from __future__ import annotations

from bot.core.context import Context
from bot.core.verbs import Registry, Verb
from commands import (
    ack,
    clear,
    deployments,
    help,
    inbox,
    logs,
    mark,
    pause,
    respond,
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

__all__ = ["REGISTRY", "Context", "Verb"]

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
        ack.VERB,
        respond.VERB,
        inbox.VERB,
    ),
    airflow_failure=airflow_failure,
    when_empty=help.VERB.name,
)
