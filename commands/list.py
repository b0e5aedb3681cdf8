"""``/airflow list [<deployment>] [<filter>]``: one page of DAGs, with state and last run."""

from __future__ import annotations

from bot.airflow import AirflowError, Dag, DagRun
from bot.airflow.client import MAX_PAGE
from bot.permissions import dag_allowed
from bot.reply import (
    Block,
    Buttons,
    Intent,
    Reply,
    actions,
    context,
    escape,
    link,
    link_button,
    section,
)
from commands import format as fmt
from commands.context import Context

PAGE_SIZE = 20


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    offset = max(0, ctx.page_offset)
    globs = ctx.access.dag_globs(channel_id=ctx.channel_id, verb="list", deployment=ctx.deployment)
    if globs is None:
        page = client.list_dags(pattern=cmd.filter, limit=PAGE_SIZE, offset=offset)
        dags, total = page.dags, page.total
    else:
        # Grants limit this user to some DAGs: fetch a full page and keep theirs, so a page
        # still costs one listing call however the globs are written.
        page = client.list_dags(pattern=cmd.filter, limit=MAX_PAGE)
        visible = tuple(d for d in page.dags if dag_allowed(d.dag_id, globs))
        dags, total = visible[offset : offset + PAGE_SIZE], len(visible) + page.remaining
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
        beyond = f" past the first {offset}" if offset else ""
        text = f"No DAGs{mine} on `{ctx.deployment}`{matching}{beyond}."
        return Reply(text=text, blocks=[section(text)], outcome="no DAGs found")

    shown = _range(offset, len(dags), total)
    header = f"*DAGs on `{ctx.deployment}`*{matching}: {shown}"
    buttons = Buttons()
    blocks: list[Block] = [section(header)]
    for index, dag in enumerate(dags):
        url = client.dag_url(dag.dag_id)
        blocks.append(section(_dag_line(dag, latest.get(dag.dag_id), url)))
        blocks.append(actions(*_dag_buttons(ctx, buttons, dag, url), block_id=f"dag:{index}"))
    nav = _page_buttons(ctx, buttons, offset, len(dags), total)
    if nav:
        blocks.append(actions(*nav, block_id="pages"))
    if globs is not None:
        notes.append("Only the DAGs your grants let you see are listed.")
    if notes:
        blocks.append(context(*notes))
    fallback = f"{header}\n" + "\n".join(d.dag_id for d in dags)
    return Reply(
        text=fallback,
        blocks=blocks,
        outcome=f"listed {len(dags)} DAGs",
        intents=tuple(buttons.intents),
    )


def _range(offset: int, count: int, total: int) -> str:
    if offset == 0 and count >= total:
        return str(total)
    return f"{offset + 1}-{offset + count} of {total}"


def _dag_buttons(ctx: Context, buttons: Buttons, dag: Dag, url: str) -> list[Block]:
    """What the asker may do with this DAG; whoever clicks is authorised again then."""
    here = {"channel_id": ctx.channel_id, "deployment": ctx.deployment, "dag_id": dag.dag_id}
    elements: list[Block] = []

    def may(verb: str) -> bool:
        return ctx.access.check(verb=verb, **here).allowed

    if may("trigger"):
        elements.append(
            buttons.button("Trigger…", Intent("trigger_form", ctx.deployment, dag.dag_id))
        )
    toggle = "unpause" if dag.is_paused else "pause"
    if may(toggle):
        elements.append(
            buttons.button(toggle.capitalize(), Intent(toggle, ctx.deployment, dag.dag_id))
        )
    if may("status"):
        elements.append(buttons.button("Runs", Intent("runs", ctx.deployment, dag.dag_id)))
    elements.append(link_button("Open in Airflow", url))
    return elements


def _page_buttons(
    ctx: Context, buttons: Buttons, offset: int, count: int, total: int
) -> list[Block]:
    args = {"filter": ctx.command.filter}
    nav: list[Block] = []
    if offset > 0:
        previous = {**args, "offset": max(0, offset - PAGE_SIZE)}
        nav.append(buttons.button("◀ Previous", Intent("page", ctx.deployment, args=previous)))
    if offset + count < total:
        following = {**args, "offset": offset + count}
        nav.append(buttons.button("Next ▶", Intent("page", ctx.deployment, args=following)))
    return nav


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
