"""``/airflow unpause [<deployment>] <dag_id>``: let the scheduler create runs again."""

from __future__ import annotations

from bot.core.reply import Reply
from commands.context import Context
from commands.pause import set_paused

# Changes something in Airflow: goes through the deployment's ``confirm`` and ``approvers``
# (bot/core/pending.py) and is announced in the audit channel (commands.WRITE_VERBS).
WRITES = True


def run(ctx: Context) -> Reply:
    return set_paused(ctx, paused=False)
