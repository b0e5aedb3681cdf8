"""``/airflow trigger [<deployment>] <dag_id> [<logical_date>] [<conf-json>]``: start a run."""

from __future__ import annotations

import json

from bot.core.reply import Reply, code, context, escape, link, section
from commands import format as fmt
from commands.context import Context
from commands.lookup import find_dag

# Changes something in Airflow: goes through the deployment's ``confirm`` and ``approvers``
# (bot/core/pending.py) and is announced in the audit channel (commands.WRITE_VERBS).
WRITES = True


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id = cmd.dag_id or ""
    # Looking first costs one read and buys a "did you mean" for a typo and a warning for a
    # paused DAG, whose run would otherwise sit queued with no explanation.
    dag = find_dag(ctx)
    started = client.trigger(
        dag_id,
        logical_date=cmd.logical_date,
        conf=cmd.conf,
        run_id=ctx.run_id,
        note=run_note(ctx),
    )
    url = client.run_url(dag_id, started.run_id)
    lines = [
        f":rocket: Triggered *{link(client.dag_url(dag_id), dag_id)}* on {code(ctx.deployment)}",
        f"Run {link(url, started.run_id)} is {fmt.state(started.state)}",
    ]
    if started.logical_date is not None:
        lines.append(f"Logical date: {fmt.when(started.logical_date)}")
    if cmd.conf:
        lines.append(f"Conf: {code(json.dumps(cmd.conf, separators=(',', ':'))[:500])}")
    blocks = [section("\n".join(lines))]
    if dag.is_paused:
        blocks.append(
            context(
                f":double_vertical_bar: {code(dag_id)} is paused: the run waits in the queue "
                f"until someone runs {code(f'/airflow unpause {ctx.deployment} {dag_id}')}."
            )
        )
    return Reply(
        text=(
            f"Triggered {escape(dag_id)} on {escape(ctx.deployment)}: "
            f"run {escape(started.run_id)} ({escape(started.state)})"
        ),
        blocks=blocks,
        outcome=f"triggered run {code(started.run_id)}",
        run_id=started.run_id,
    )


def run_note(ctx: Context) -> str:
    """Stamped on the run, so the Airflow UI shows who started it from Slack, and where."""
    note = f"Triggered from Slack by user {ctx.user_id} in channel {ctx.channel_id}"
    return note + (f", approved by user {ctx.approved_by}" if ctx.approved_by else "")
