"""``/airflow pause [<deployment>] <dag_id>``: stop the scheduler creating runs of a DAG."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply, code, link, text_reply
from bot.core.verbs import Arg, Button, Verb
from commands.lookup import find_dag


def run(ctx: Context) -> Reply:
    return set_paused(ctx, paused=True)


def set_paused(ctx: Context, *, paused: bool) -> Reply:
    """Pause or unpause; a DAG already in that state is left alone and the reply says so."""
    client = ctx.airflow
    dag_id = ctx.command.dag_id or ""
    word = "paused" if paused else "unpaused"
    dag = find_dag(ctx)
    name = link(client.dag_url(dag_id), dag_id)
    if dag.is_paused == paused:
        text = f"{name} on {code(ctx.deployment)} was already {word}: nothing changed."
        return text_reply(text, outcome=f"{code(dag_id)} was already {word}")
    client.set_paused(dag_id, paused)
    effect = (
        "the scheduler creates no new runs; runs in progress carry on."
        if paused
        else "the scheduler creates runs on its schedule again."
    )
    icon = ":double_vertical_bar:" if paused else ":arrow_forward:"
    text = f"{icon} {word.capitalize()} {name} on {code(ctx.deployment)}: {effect}"
    return text_reply(text, outcome=f"{word} {code(dag_id)}")


VERB = Verb(
    name="pause",
    about="Pause a DAG: the scheduler stops creating runs.",
    run=run,
    args=(Arg.DAG,),
    role="operator",
    writes=True,
    examples=("/airflow pause prod etl_daily",),
    buttons={"pause": Button()},  # under a DAG in a list
)
