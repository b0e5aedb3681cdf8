"""``/airflow list [<deployment>] [<filter>]``: one page of DAGs, with state and last run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.airflow import AirflowClient, AirflowError, Dag, DagRun
from bot.airflow.client import MAX_PAGE
from bot.core import format as fmt
from bot.core.context import Context, PagePosition
from bot.core.permissions import dag_allowed
from bot.core.reply import (
    Block,
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

PAGE_SIZE = 20
# For a user limited to some DAGs, how many listing calls one page may make looking for theirs
# (MAX_PAGE DAGs each): past that the page shows what was found and Next looks further.
SCAN_CALLS = 10


@dataclass(frozen=True)
class _Scan:
    """The user's own DAGs in the listing, from a position in it onwards."""

    dags: tuple[Dag, ...]  # all of theirs in the listing pages read: a page and often more
    next_from: int  # the listing position where the next page starts looking
    complete: bool  # the listing ended: nothing of theirs lies past these
    looked_at: int  # how far into the listing the scan went
    listing_total: int


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    offset = max(0, ctx.page.offset)
    globs = ctx.access.dag_globs(channel_id=ctx.channel_id, verb="list", deployment=ctx.deployment)
    notes: list[str] = []
    scan: _Scan | None = None
    if globs is None:
        page = client.list_dags(pattern=cmd.filter, limit=PAGE_SIZE, offset=offset)
        dags = page.dags
        has_next = offset + len(dags) < page.total
        shown = _range(offset, len(dags), page.total)
    else:
        # Grants limit this user to some DAGs, which Airflow cannot filter by: narrow the
        # listing by what all their globs share, and keep theirs from full pages of it.
        scan = _scan(client, cmd.filter or _shared_literal(globs), globs, ctx.page.start)
        dags = scan.dags[:PAGE_SIZE]
        has_next = len(scan.dags) > PAGE_SIZE or not scan.complete
        known = offset + len(scan.dags)
        if scan.complete:
            shown = _range(offset, len(dags), known)
        else:
            # Not read to its end, the listing still bounds the count: of the rest of it, at
            # most all are theirs.
            most = known + scan.listing_total - scan.looked_at
            shown = f"{offset + 1}-{offset + len(dags)} of up to {most}" if dags else "none yet"
        if not scan.complete and len(scan.dags) <= PAGE_SIZE:
            notes.append(
                f"Looked through {scan.looked_at:,} of {scan.listing_total:,} DAGs for yours; "
                "Next looks further, or add a filter to narrow the list."
            )
    latest: dict[str, DagRun] = {}
    if dags:
        try:
            latest = client.latest_runs([d.dag_id for d in dags])
        except AirflowError as exc:
            # The listing itself worked: show it, and say plainly what is missing.
            notes.append(f"Last runs could not be read: {escape(exc.message)}")
    matching = f" matching {code(cmd.filter)}" if cmd.filter else ""
    if not dags and not has_next:
        mine = " that you may see" if globs is not None else ""
        beyond = f" past the first {offset}" if offset else ""
        text = f"No DAGs{mine} on {code(ctx.deployment)}{matching}{beyond}."
        return text_reply(text, outcome="no DAGs found")

    header = f"*DAGs on {code(ctx.deployment)}*{matching}: {shown}"
    buttons = Buttons()
    blocks: list[Block] = [section(header)]
    for index, dag in enumerate(dags):
        url = client.dag_url(dag.dag_id)
        blocks.append(section(_dag_line(dag, latest.get(dag.dag_id), url)))
        blocks.append(actions(*_dag_buttons(ctx, buttons, dag, url), block_id=f"dag:{index}"))
    nav = _page_buttons(ctx, buttons, offset, len(dags), has_next, scan)
    if nav:
        blocks.append(actions(*nav, block_id="pages"))
    if globs is not None:
        notes.append("Only the DAGs your grants let you see are listed.")
    if notes:
        blocks.append(context(*notes))
    fallback = f"{header}\n" + "\n".join(escape(d.dag_id) for d in dags)
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


def _scan(client: AirflowClient, pattern: str | None, globs: Sequence[str], start: int) -> _Scan:
    """Read the listing from ``start``, whole pages of it, until it holds more than a page of
    the user's DAGs (so Next is known to be needed), it ends, or SCAN_CALLS were made."""
    found: list[Dag] = []
    position, total, next_from = start, 0, None
    for _ in range(SCAN_CALLS):
        page = client.list_dags(pattern=pattern, limit=MAX_PAGE, offset=position)
        total = page.total
        for index, dag in enumerate(page.dags):
            if dag_allowed(dag.dag_id, globs):
                found.append(dag)
                if len(found) == PAGE_SIZE + 1:
                    next_from = position + index
        position += len(page.dags)
        ended = not page.dags or position >= page.total
        if ended or next_from is not None:
            break
    return _Scan(
        dags=tuple(found),
        next_from=position if next_from is None else next_from,
        complete=ended,
        looked_at=position,
        listing_total=total,
    )


def _shared_literal(globs: Sequence[str]) -> str | None:
    """The longest plain text that every DAG id the globs match contains, to narrow the listing.

    Airflow's ``dag_id_pattern`` matches ids containing it (case-insensitively), so every DAG
    the globs allow is still listed; the globs themselves are applied here.
    """
    pieces = [[p for p in re.split(r"\*|\?|\[[^]]*\]?", g) if p] for g in globs]
    if not pieces or any(not p for p in pieces):
        return None
    for length in range(max(len(c) for c in pieces[0]), 0, -1):
        for piece in pieces[0]:
            for start in range(len(piece) - length + 1):
                text = piece[start : start + length]
                if all(any(text in q for q in other) for other in pieces[1:]):
                    return text
    return None


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
    ctx: Context, buttons: Buttons, offset: int, count: int, has_next: bool, scan: _Scan | None
) -> list[Block]:
    """Next/Previous. For a user limited to some DAGs (``scan``), they also carry where in the
    listing each page starts, and the pages before for Previous."""
    here = ctx.page
    nav: list[Block] = []
    if offset > 0:
        if scan is not None and here.back:
            (back_offset, back_start), earlier = here.back[-1], here.back[:-1]
            previous = PagePosition(back_offset, back_start, earlier)
        else:
            previous = PagePosition(max(0, offset - PAGE_SIZE))
        nav.append(buttons.button("◀ Previous", _page_intent(ctx, previous)))
    if has_next:
        following = PagePosition(offset + count)
        if scan is not None:
            following = PagePosition(
                offset + count, scan.next_from, (*here.back, (offset, here.start))
            )
        nav.append(buttons.button("Next ▶", _page_intent(ctx, following)))
    return nav


def _page_intent(ctx: Context, position: PagePosition) -> Intent:
    return Intent("page", ctx.deployment, args={"filter": ctx.command.filter, **position.args()})


def _dag_line(dag: Dag, last: DagRun | None, url: str) -> str:
    status = ":double_vertical_bar: paused" if dag.is_paused else ":arrow_forward: active"
    facts = [code(dag.schedule) if dag.schedule else "manual only"]
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


VERB = Verb(
    name="list",
    about="List DAGs, optionally only those whose id contains <filter>.",
    run=run,
    args=(Arg.FILTER,),
    role="viewer",
    examples=("/airflow list prod", "/airflow list prod etl_"),
    notes="The deployment may be left out where the channel has a default deployment.",
    buttons={"page": Button(in_place=True)},  # Next and Previous
)
