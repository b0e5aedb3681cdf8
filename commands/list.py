"""``/airflow list [<deployment>] [<filter>]``: one page of DAGs, with state and last run."""

from __future__ import annotations

from bot.airflow import AirflowError, Dag, DagRun
from bot.airflow.client import MAX_PAGE
from bot.permissions import dag_allowed
from bot.reply import Block, Reply, context, escape, link, section
from commands import format as fmt
from commands.context import Context

PAGE_SIZE = 20


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    globs = ctx.access.dag_globs(channel_id=ctx.channel_id, verb="list", deployment=ctx.deployment)
    if globs is None:
        page = client.list_dags(pattern=cmd.filter, limit=PAGE_SIZE)
        dags, remaining, shown = page.dags, page.remaining, _count(page.total, page.remaining)
    else:
        # Grants limit this user to some DAGs: fetch a full page and keep theirs, so a page
        # still costs one listing call however the globs are written.
        page = client.list_dags(pattern=cmd.filter, limit=MAX_PAGE)
        visible = tuple(d for d in page.dags if dag_allowed(d.dag_id, globs))
        dags = visible[:PAGE_SIZE]
        remaining = len(visible) - len(dags) + page.remaining
        shown = str(len(dags)) + (" you may see" if not remaining else " shown")
    notes: list[str] = []
    latest: dict[str, DagRun] = {}
    if dags:
        try:
            latest = client.latest_runs([d.dag_id for d in dags])
        except AirflowError as exc:
            # The listing itself worked: show it, and say plainly what is missing.
            notes.append(f"Last runs could not be read: {escape(exc.message)}")
    matching = f" matching {fmt.code(cmd.filter)}" if cmd.filter else ""
    if not dags:
        mine = " that you may see" if globs is not None else ""
        text = f"No DAGs{mine} on `{ctx.deployment}`{matching}."
        return Reply(text=text, blocks=[section(text)], outcome="no DAGs found")

    header = f"*DAGs on `{ctx.deployment}`*{matching}: {shown}"
    blocks: list[Block] = [section(header)]
    for dag in dags:
        blocks.append(section(_dag_line(dag, latest.get(dag.dag_id), client.dag_url(dag.dag_id))))
    if remaining:
        hint = f"`/airflow list {ctx.deployment} {cmd.filter or '<filter>'}`"
        notes.append(f"{remaining} more not shown. Narrow the list with a filter: {hint}")
    if globs is not None:
        notes.append("Only the DAGs your grants let you see are listed.")
    if notes:
        blocks.append(context(*notes))
    fallback = f"{header}\n" + "\n".join(d.dag_id for d in dags)
    return Reply(text=fallback, blocks=blocks, outcome=f"listed {len(dags)} DAGs")


def _count(total: int, remaining: int) -> str:
    return f"{total - remaining} of {total}" if remaining else str(total)


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
