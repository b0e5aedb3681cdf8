"""``/airflow pause [<deployment>] <dag_id>``: stop the scheduler creating runs of a DAG."""

from __future__ import annotations

from bot.core.reply import Reply, code, link, section
from commands.context import Context
from commands.lookup import find_dag

# Changes something in Airflow: goes through the deployment's ``confirm`` and ``approvers``
# (bot/core/pending.py) and is announced in the audit channel (commands.WRITE_VERBS).
WRITES = True


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
        return Reply(
            text=text, blocks=[section(text)], outcome=f"{code(dag_id)} was already {word}"
        )
    client.set_paused(dag_id, paused)
    effect = (
        "the scheduler creates no new runs; runs in progress carry on."
        if paused
        else "the scheduler creates runs on its schedule again."
    )
    icon = ":double_vertical_bar:" if paused else ":arrow_forward:"
    text = f"{icon} {word.capitalize()} {name} on {code(ctx.deployment)}: {effect}"
    return Reply(text=text, blocks=[section(text)], outcome=f"{word} {code(dag_id)}")
