"""``/airflow unpause [<deployment>] <dag_id>``: let the scheduler create runs again."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply
from bot.core.verbs import Arg, Button, Verb
from commands.pause import set_paused


def run(ctx: Context) -> Reply:
    return set_paused(ctx, paused=False)


VERB = Verb(
    name="unpause",
    about="Unpause a DAG.",
    run=run,
    args=(Arg.DAG,),
    role="operator",
    writes=True,
    examples=("/airflow unpause prod etl_daily",),
    buttons={"unpause": Button()},  # under a paused DAG in a list
)
