"""``/airflow logs [<deployment>] <dag_id> [<run_id>] [<task_id>]``: the end of a task's log,
in the thread.

By default the latest run, and in it the first task that failed, else the last task to start.
**Earlier lines** shows the lines before those shown, as a new reply in the thread rather than
in place: the page already read stays where it is, and reading up the thread reads up the log.
The **Logs** button (``LOGS``, with ``run_id`` and ``task_id`` in its args) opens a task's log
from any message that names one, e.g. a failure alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.airflow import DagRun, TaskInstance
from bot.core import format as fmt
from bot.core.context import Context
from bot.core.reply import (
    SECTION_LIMIT,
    Block,
    Buttons,
    Intent,
    Reply,
    actions,
    code,
    code_block,
    context,
    link,
    link_button,
    section,
    text_reply,
)
from bot.core.verbs import Arg, Button, Offer, Verb
from commands.lookup import find_dag

LOGS = "logs"  # the button that opens a task's log: under failure alerts
EARLIER = "logs_earlier"  # under a page of a log: the lines before it
PAGE_LINES = 40
MAX_SHOWN_CHARS = 500  # of one line; escaped (up to 5 times longer) it still fits a section
KNOWN_SHOWN = 20  # task ids named when the one asked for is not in the run


@dataclass(frozen=True)
class Where:
    """The log asked for: a task instance's try in a run."""

    run_id: str
    task_id: str
    try_number: int
    map_index: int = -1

    def args(self, offset: int = 0) -> dict[str, object]:
        """What a button stores to show this log again, ``offset`` lines from its end."""
        args: dict[str, object] = {"run_id": self.run_id, "task_id": self.task_id,
                                   "try_number": self.try_number, "offset": offset}  # fmt: skip
        if self.map_index >= 0:
            args["map_index"] = self.map_index
        return args


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id = cmd.dag_id or ""
    if cmd.run_id and cmd.task_id and cmd.try_number:
        # A page of a log already found: the button knows the try, no lookup needed.
        index = cmd.map_index if cmd.map_index is not None else -1
        where = Where(cmd.run_id, cmd.task_id, cmd.try_number, index)
        return _page(ctx, where, header=_short_header(ctx, where))
    dag_run = _the_run(ctx)
    if dag_run is None:
        dag = find_dag(ctx)  # tells an unknown DAG from one that never ran
        state = "paused" if dag.is_paused else "active"
        text = f"{code(dag_id)} on {code(ctx.deployment)} has no runs yet (it is {state})."
        return _say(text, outcome="no runs yet")
    tasks = client.task_instances(dag_id, dag_run.run_id)
    ti = _the_task(tasks, cmd.task_id, cmd.map_index)
    if ti is None or ti.try_number < 1:
        return _no_log(ctx, dag_run, tasks, ti)
    where = Where(dag_run.run_id, ti.task_id, ti.try_number, ti.map_index)
    return _page(ctx, where, header=_header(ctx, dag_run, ti))


def _no_log(
    ctx: Context, dag_run: DagRun, tasks: list[TaskInstance], ti: TaskInstance | None
) -> Reply:
    """No such task in the run, or it (or every task) has not run yet."""
    client, cmd = ctx.airflow, ctx.command
    dag = code(cmd.dag_id or "")
    run_link = link(client.run_url(cmd.dag_id or "", dag_run.run_id), dag_run.run_id)
    if ti is None and cmd.task_id:
        ids = list(dict.fromkeys(t.task_id for t in tasks))
        known = ", ".join(code(t) for t in ids[:KNOWN_SHOWN])
        more = f" and {len(ids) - KNOWN_SHOWN} more" if len(ids) > KNOWN_SHOWN else ""
        text = f"Run {run_link} of {dag} has no task {code(cmd.task_id)}." + (
            f" Its tasks: {known}{more}." if known else ""
        )
        return _say(text, outcome=f"no task {code(cmd.task_id)}", ok=False)
    if ti is None:
        text = f"No task of run {run_link} of {dag} has run yet, so there is no log."
    else:
        text = (
            f"Task {code(ti.task_id)} of run {run_link} of {dag} has not run "
            f"(it is {fmt.state(ti.state or 'none')}), so it has no log."
        )
    text += f" The run is {fmt.state(dag_run.state)}."
    return _say(text, outcome="no log yet")


def _the_run(ctx: Context) -> DagRun | None:
    client, cmd = ctx.airflow, ctx.command
    if cmd.run_id:
        return client.get_run(cmd.dag_id or "", cmd.run_id)
    runs = client.list_runs(cmd.dag_id or "", limit=1)
    return runs[0] if runs else None


def _the_task(
    tasks: list[TaskInstance], task_id: str | None, map_index: int | None
) -> TaskInstance | None:
    """The named task (its failed or latest mapped instance), else the first that failed, else
    the last to start. ``tasks`` come in the order they started."""
    if task_id is not None:
        tasks = [t for t in tasks if t.task_id == task_id]
        if map_index is not None:
            tasks = [t for t in tasks if t.map_index == map_index]
        if not tasks:
            return None
    ran = [t for t in tasks if t.try_number >= 1]
    failed = [t for t in ran if t.state == "failed"]
    if failed:
        return failed[0]
    started = [t for t in ran if t.start_date is not None]
    if started:
        return started[-1]
    if ran:
        return ran[-1]
    # Nothing ran: a named task is still told apart from a missing one.
    return tasks[0] if task_id is not None else None


def _header(ctx: Context, dag_run: DagRun, ti: TaskInstance) -> str:
    client, dag_id = ctx.airflow, ctx.command.dag_id or ""
    task = code(ti.task_id) + (f" [{ti.map_index}]" if ti.map_index >= 0 else "")
    took = None
    if ti.start_date and ti.end_date:
        took = (ti.end_date - ti.start_date).total_seconds()
    return (
        f"*Log of {task} in run {link(client.run_url(dag_id, dag_run.run_id), dag_run.run_id)} "
        f"of {link(client.dag_url(dag_id), dag_id)} on {code(ctx.deployment)}*\n"
        f"Try {ti.try_number}  ·  {fmt.state(ti.state or 'none')}  ·  started "
        f"{fmt.when(ti.start_date)}  ·  took {fmt.duration(took)}"
    )


def _short_header(ctx: Context, where: Where) -> str:
    client, dag_id = ctx.airflow, ctx.command.dag_id or ""
    task = code(where.task_id) + (f" [{where.map_index}]" if where.map_index >= 0 else "")
    run_link = link(client.run_url(dag_id, where.run_id), where.run_id)
    return f"*Log of {task} (try {where.try_number}) in run {run_link} of {code(dag_id)}*"


def _page(ctx: Context, where: Where, *, header: str) -> Reply:
    client, dag_id = ctx.airflow, ctx.command.dag_id or ""
    lines = client.task_log(dag_id, where.run_id, where.task_id, try_number=where.try_number,
                            map_index=where.map_index)  # fmt: skip
    end = max(0, len(lines) - ctx.page.offset)
    start = max(0, end - PAGE_LINES)
    shown = lines[start:end]
    if not lines:
        place = "The log is empty."
    elif not shown:
        place = "There are no earlier lines."
    else:
        place = f"Lines {start + 1:,}–{end:,} of {len(lines):,}."
    blocks: list[Block] = [section(header), *code_sections(shown), context(place)]
    buttons = Buttons()
    row = []
    if start > 0:
        earlier = Intent(EARLIER, ctx.deployment, dag_id, args=where.args(len(lines) - start))
        row.append(buttons.button("Earlier lines", earlier))
    url = client.task_url(dag_id, where.run_id, where.task_id, where.map_index)
    row.append(link_button("Open in Airflow", url))
    blocks.append(actions(*row))
    return Reply(
        text=header,
        blocks=blocks,
        outcome=f"log of {code(where.task_id)}, try {where.try_number}",
        intents=tuple(buttons.intents),
    )


def code_sections(lines: list[str]) -> list[Block]:
    """``lines`` escaped in code blocks, as few sections as Slack's section limit allows."""
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if len(line) > MAX_SHOWN_CHARS:
            line = line[:MAX_SHOWN_CHARS] + "…"
        if chunk and len(code_block("\n".join([*chunk, line]))) > SECTION_LIMIT:
            blocks.append(section(code_block("\n".join(chunk))))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section(code_block("\n".join(chunk))))
    return blocks


def _say(text: str, *, outcome: str, ok: bool = True) -> Reply:
    return text_reply(text, ok=ok, outcome=outcome)


VERB = Verb(
    name="logs",
    about="Show the end of a task's log (by default the latest run's first failed task).",
    run=run,
    args=(Arg.DAG, Arg.RUN, Arg.TASK),
    role="viewer",
    examples=(
        "/airflow logs prod etl_daily",
        "/airflow logs prod etl_daily scheduled__2024-06-01T00:00:00+00:00 load",
    ),
    notes=(
        "Without a run id: the latest run. Without a task id: its first failed task, else the "
        f"last task to start. The last {PAGE_LINES} lines are shown; *Earlier lines* shows "
        "the ones before. To name a task, name its run first (`/airflow status` lists runs)."
    ),
    buttons={LOGS: Button(offered=Offer.LOGS), EARLIER: Button()},
)
