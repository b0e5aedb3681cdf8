"""``/airflow list [<deployment>] [<filter>]``: one page of DAGs, with state and last run."""

from __future__ import annotations

from bot.airflow import AirflowError, Dag, DagRun
from bot.reply import Block, Reply, context, escape, link, section
from commands import format as fmt
from commands.context import Context

PAGE_SIZE = 20


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    page = client.list_dags(pattern=cmd.filter, limit=PAGE_SIZE)
    notes: list[str] = []
    latest: dict[str, DagRun] = {}
    if page.dags:
        try:
            latest = client.latest_runs([d.dag_id for d in page.dags])
        except AirflowError as exc:
            # The listing itself worked: show it, and say plainly what is missing.
            notes.append(f"Last runs could not be read: {escape(exc.message)}")
    matching = f" matching {fmt.code(cmd.filter)}" if cmd.filter else ""
    if not page.dags:
        text = f"No DAGs on `{ctx.deployment}`{matching}."
        return Reply(text=text, blocks=[section(text)], outcome="no DAGs found")

    shown = f"{len(page.dags)} of {page.total}" if page.remaining else f"{page.total}"
    header = f"*DAGs on `{ctx.deployment}`*{matching}: {shown}"
    blocks: list[Block] = [section(header)]
    blocks += [
        section(_dag_line(d, latest.get(d.dag_id), client.dag_url(d.dag_id))) for d in page.dags
    ]
    if page.remaining:
        hint = f"`/airflow list {ctx.deployment} {cmd.filter or '<filter>'}`"
        notes.append(f"{page.remaining} more not shown. Narrow the list with a filter: {hint}")
    if notes:
        blocks.append(context(*notes))
    fallback = f"{header}\n" + "\n".join(d.dag_id for d in page.dags)
    return Reply(text=fallback, blocks=blocks, outcome=f"listed {shown} DAGs")


def _dag_line(dag: Dag, last: DagRun | None, url: str) -> str:
    status = ":double_vertical_bar: paused" if dag.is_paused else ":arrow_forward: active"
    facts = [fmt.code(dag.schedule) if dag.schedule else "manual only"]
    if dag.next_run is not None and not dag.is_paused:
        facts.append(f"next {fmt.when(dag.next_run)}")
    if last is not None:
        facts.append(
            f"last run {fmt.state(last.state)} {fmt.when(last.logical_date or last.start_date)}"
        )
    else:
        facts.append("no runs yet")
    if dag.has_import_errors:
        facts.append(":warning: import errors")
    lines = [f"*{link(url, dag.dag_id)}*  {status}", " · ".join(facts)]
    if dag.description:
        lines.append(f"_{escape(dag.description.strip())}_")
    return "\n".join(lines)
