"""``/airflow unpause [<deployment>] <dag_id>``: let the scheduler create runs again."""

from __future__ import annotations

from bot.reply import Reply
from commands.context import Context
from commands.pause import set_paused


def run(ctx: Context) -> Reply:
    return set_paused(ctx, paused=False)
