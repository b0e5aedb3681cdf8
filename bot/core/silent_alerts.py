"""What the trouble Airflow makes no sound about looks like in a channel: a run running long, a
run or its tasks stuck in the queue, a DAG late for its deadline, a DAG file that does not
import; and the line told in the alert's thread when it is over, with the alert put back
without its buttons.

Like a failure alert, each is rendered once, when the watch finds it, and kept in the store as
data until it is posted. Everything from Airflow is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.airflow.models import DagImportError, DagRun, TaskInstance
from bot.core import format as fmt
from bot.core.alerts import RUN_TYPES, AlertButtons
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
    escape,
    link,
    link_button,
    section,
)

TASKS_SHOWN = 5
TRACE_LINES = 15  # the end of an import error's stack trace shown


@dataclass(frozen=True)
class Links:
    dag: str
    run: str


def long_alert(
    deployment: str,
    run: DagRun,
    *,
    now: datetime,
    limit: float,
    usual: float | None,
    running: Sequence[TaskInstance] | None,
    links: Links,
    buttons: AlertButtons,
    missing: str | None = None,
) -> Reply:
    """A run still running past ``limit`` seconds: since when, against its usual duration, the
    tasks running now and for how long; Logs (of the longest-running), Mark failed, Open."""
    started = run.start_date or now
    head = f":hourglass: *Run running long:* {link(links.dag, run.dag_id)} on {code(deployment)}"
    usual_text = f"usually {fmt.duration(usual)}" if usual is not None else "no usual duration"
    facts = [
        f"Run {link(links.run, run.run_id)}",
        _kind(run),
        f"started {fmt.when(run.start_date)}",
        f"running for {fmt.duration((now - started).total_seconds())}",
        f"{usual_text} (limit {fmt.duration(limit)})",
    ]
    blocks: list[Block] = [section(f"{head}\n{' · '.join(facts)}")]
    tasks = sorted(running or (), key=lambda t: t.start_date or now)
    if tasks:
        shown = ", ".join(
            f"{code(t.task_id)} for {fmt.duration((now - (t.start_date or now)).total_seconds())}"
            for t in tasks[:TASKS_SHOWN]
        )
        more = f" and {len(tasks) - TASKS_SHOWN} more" if len(tasks) > TASKS_SHOWN else ""
        blocks.append(section(f"Running now: {shown}{more}"))
    elif running is not None:
        blocks.append(section("No task is running now: the run waits for its next ones."))
    if missing:
        blocks.append(context(f":warning: {escape(missing)}"))
    bar = Buttons()
    elements: list[Block] = []
    if tasks:
        first = tasks[0]
        args: dict[str, Any] = {"run_id": run.run_id, "task_id": first.task_id}
        if first.map_index >= 0:
            args["map_index"] = first.map_index
        elements.append(bar.button("Logs", Intent(buttons.logs, deployment, run.dag_id, args=args)))
    failed = {"run_id": run.run_id, "state": "failed"}
    elements.append(
        bar.button(
            "Mark failed", Intent(buttons.mark, deployment, run.dag_id, args=failed), style="danger"
        )
    )
    elements.append(link_button("Open in Airflow", links.run))
    blocks.append(actions(*elements))
    text = (
        f"Run {escape(run.run_id)} of {escape(run.dag_id)} on {escape(deployment)} has been "
        f"running for {fmt.duration((now - started).total_seconds())}."
    )
    return Reply(text=text, blocks=blocks, ok=False, intents=tuple(bar.intents))


def run_ended(run: DagRun | None, run_id: str) -> str:
    """The thread's last word on a run the alert was about."""
    if run is None:
        return f"Run {code(run_id)} is no longer in Airflow."
    if run.finished:
        return (
            f"Run {code(run.run_id)} ended {fmt.state(run.state)} at {fmt.when(run.end_date)}, "
            f"after {fmt.duration(run.duration_seconds)}."
        )
    return f"Run {code(run.run_id)} is now {fmt.state(run.state)}."


def queued_alert(
    deployment: str,
    run: DagRun,
    *,
    now: datetime,
    since: datetime,
    tasks: Sequence[TaskInstance],
    why: Sequence[str],
    links: Links,
) -> Reply:
    """A run queued (or some of its tasks scheduled or queued) since ``since``, and why, in
    Airflow's own words where it gives them."""
    head = (
        f":hourglass_flowing_sand: *Stuck in the queue:* {link(links.dag, run.dag_id)} on "
        f"{code(deployment)}"
    )
    waited = fmt.duration((now - since).total_seconds())
    if tasks:
        names = ", ".join(
            f"{code(t.task_id)} ({escape(t.state or '')})" for t in tasks[:TASKS_SHOWN]
        )
        more = f" and {len(tasks) - TASKS_SHOWN} more" if len(tasks) > TASKS_SHOWN else ""
        what = f"Run {link(links.run, run.run_id)} is running; waiting for {waited}: {names}{more}"
    else:
        what = f"Run {link(links.run, run.run_id)} ({_kind(run)}) has been queued for {waited}"
    blocks: list[Block] = [section(f"{head}\n{what}")]
    if why:
        blocks.append(section("*Why:*\n" + "\n".join(f"• {escape(w)}" for w in why[:TASKS_SHOWN])))
    blocks.append(actions(link_button("Open in Airflow", links.run)))
    text = (
        f"Run {escape(run.run_id)} of {escape(run.dag_id)} on {escape(deployment)} has waited "
        f"{waited}."
    )
    return Reply(text=text, blocks=blocks, ok=False)


def run_started(run: DagRun | None, run_id: str) -> str:
    if run is None:
        return f"Run {code(run_id)} is no longer in Airflow."
    if run.finished:
        return run_ended(run, run_id)
    since = fmt.when(run.start_date)
    return f"Started: run {code(run.run_id)} is {fmt.state(run.state)} since {since}."


def late_alert(
    deployment: str,
    dag_id: str,
    *,
    deadline: str,
    window: str,
    last_success: datetime | None,
    now_doing: str,
    dag_url: str,
) -> Reply:
    head = f":alarm_clock: *Late:* {link(dag_url, dag_id)} on {code(deployment)}"
    last = f"last succeeded {fmt.when(last_success)}" if last_success else "never succeeded"
    body = f"No successful run in the {window} before {escape(deadline)}: {last}. Now: {now_doing}"
    blocks: list[Block] = [
        section(f"{head}\n{body}"),
        actions(link_button("Open in Airflow", dag_url)),
    ]
    text = f"{escape(dag_id)} on {escape(deployment)} has no successful run by {escape(deadline)}."
    return Reply(text=text, blocks=blocks, ok=False)


def late_now(run: DagRun | None, paused: bool | None) -> str:
    """What a late DAG is doing now, from its newest run."""
    if paused:
        return "not scheduled: the DAG is paused."
    if run is None:
        return "no run at all."
    if run.state == "running":
        return f"running since {fmt.when(run.start_date)} (run {code(run.run_id)})."
    if run.state == "queued":
        return f"queued since {fmt.when(run.queued_at)} (run {code(run.run_id)})."
    if run.state == "failed":
        return f"failed at {fmt.when(run.end_date)} (run {code(run.run_id)})."
    last = fmt.when(run.end_date or run.start_date)
    return f"no run since {last} (run {code(run.run_id)}, {fmt.state(run.state)})."


def late_success(run: DagRun, deadline: datetime) -> str:
    after = run.end_date - deadline if run.end_date else None
    late_by = f", {fmt.duration(after.total_seconds())} after the deadline" if after else ""
    return f"Succeeded: run {code(run.run_id)} at {fmt.when(run.end_date)}{late_by}."


def import_error_post(deployment: str, error: DagImportError) -> Reply:
    head = (
        f":rotating_light: *DAG file does not import* on {code(deployment)}: {code(error.filename)}"
    )
    since = f"Seen by Airflow at {fmt.when(error.timestamp)}." if error.timestamp else ""
    title = f"{head}\n{since}"
    blocks: list[Block] = [section(_trace_section(title, error.stack_trace))]
    text = f"{escape(error.filename)} on {escape(deployment)} does not import."
    return Reply(text=text, blocks=blocks, ok=False)


def import_error_changed(error: DagImportError) -> Reply:
    title = f"The error changed ({fmt.when(error.timestamp)}):"
    text = f"The import error of {escape(error.filename)} changed."
    return Reply(text=text, blocks=[section(_trace_section(title, error.stack_trace))])


def _trace_section(title: str, trace: str) -> str:
    """The title and the end of a stack trace, as much as fits one section."""
    lines = trace.rstrip().splitlines()[-TRACE_LINES:]
    while lines:
        block = f"{title}\n{code_block(chr(10).join(line[:300] for line in lines))}"
        if len(block) <= SECTION_LIMIT:
            return block
        lines = lines[1:]
    return title


def _kind(run: DagRun) -> str:
    return RUN_TYPES.get(run.run_type or "", escape(run.run_type or "run"))


def resolved(message: dict[str, Any], line: str) -> dict[str, Any]:
    """The alert as it stays once what it told of is over: ``line`` added, its action buttons
    gone (their stored actions simply expire), its link to Airflow kept."""
    blocks = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            links = [e for e in block.get("elements") or [] if e.get("url")]
            if links:
                blocks.append({**block, "elements": links})
            continue
        blocks.append(block)
    # Over is not the same as well: a long run may have ended failed.
    blocks.append(context(f":checkered_flag: {line}"))
    return {"text": f"Over: {message.get('text', '')}", "blocks": blocks, "intents": []}
