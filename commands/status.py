"""``/airflow status [<deployment>] <dag_id> [<run_id>]``: recent runs of a DAG, or one run."""

from __future__ import annotations

from bot.airflow import DagRun
from bot.core import format as fmt
from bot.core.context import Context
from bot.core.reply import (
    Buttons,
    Intent,
    Reply,
    actions,
    code,
    context,
    escape,
    link,
    link_button,
    section,
    text_reply,
)
from bot.core.verbs import Arg, Button, Verb
from commands.lookup import find_dag

RECENT = 5


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id = cmd.dag_id or ""
    if cmd.run_id:
        one = client.get_run(dag_id, cmd.run_id)
        url = client.run_url(dag_id, one.run_id)
        text = f"*Run of {code(dag_id)} on {code(ctx.deployment)}*\n" + _run_detail(one, url)
        buttons = Buttons()
        refresh = Intent("refresh", ctx.deployment, dag_id, args={"run_id": one.run_id})
        row = actions(
            buttons.button("Refresh", refresh),
            buttons.button("Runs", Intent("runs", ctx.deployment, dag_id)),
            link_button("Open run in Airflow", url),
        )
        return Reply(
            text=text,
            blocks=[section(text), row],
            outcome=f"{code(dag_id)}: {escape(one.state)}",
            intents=tuple(buttons.intents),
        )

    runs = client.list_runs(dag_id, limit=RECENT)
    if not runs:
        dag = find_dag(ctx)  # tells an unknown DAG from one that never ran
        state = "paused" if dag.is_paused else "active"
        text = f"{code(dag_id)} on {code(ctx.deployment)} has no runs yet (it is {state})."
        return text_reply(text, outcome="no runs yet")
    header = f"*Recent runs of {link(client.dag_url(dag_id), dag_id)} on {code(ctx.deployment)}*"
    lines = [_run_line(r, client.run_url(dag_id, r.run_id)) for r in runs]
    text = header + "\n" + "\n".join(lines)
    buttons = Buttons()
    row = actions(
        buttons.button("Refresh", Intent("runs", ctx.deployment, dag_id, args={"in_place": True})),
        link_button("Open in Airflow", client.dag_url(dag_id)),
    )
    return Reply(
        text=text,
        blocks=[section(text), context("Newest first. Times in UTC."), row],
        outcome=f"{code(dag_id)}: last run {escape(runs[0].state)}",
        intents=tuple(buttons.intents),
    )


def _run_line(run: DagRun, url: str) -> str:
    started = fmt.when(run.logical_date or run.start_date)
    return (
        f"{fmt.state(run.state)}  {link(url, run.run_id)}  ·  {started}"
        f"  ·  {fmt.duration(run.duration_seconds)}"
    )


def _run_detail(run: DagRun, url: str) -> str:
    lines = [
        f"Run: {link(url, run.run_id)}",
        f"State: {fmt.state(run.state)}",
        f"Logical date: {fmt.when(run.logical_date)}",
        f"Started: {fmt.when(run.start_date)}  ·  Ended: {fmt.when(run.end_date)}"
        f"  ·  Took: {fmt.duration(run.duration_seconds)}",
    ]
    if run.note:
        lines.append(f"Note: {escape(run.note)}")
    return "\n".join(lines)


VERB = Verb(
    name="status",
    about="Show the recent runs of a DAG, or one run.",
    run=run,
    args=(Arg.DAG, Arg.RUN),
    role="viewer",
    examples=("/airflow status prod etl_daily",),
    buttons={
        # Runs under a DAG in a list opens its runs below; Refresh on them (``in_place`` in
        # the button's args) shows them again in place.
        "runs": Button(),
        "refresh": Button(in_place=True),  # one run
    },
)
