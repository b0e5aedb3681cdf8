"""What a watched run's end looks like in a channel: a failure alert with enough to act on
without opening Airflow, or one line for a success.

A failure alert names the DAG and the run (links), how the run came about, when it started and
how long it ran, the failed tasks (the first five, then how many more), the last lines of the
first failed task's log, and buttons: Logs, Clear failed tasks, Mark success, Open in Airflow.
Everything from Airflow is escaped; the log goes in a code block cut to fit Slack's limits.

An alert is rendered once, when its run is read, and kept in the store as data until it is
posted (``to_message`` / ``from_message``), so a retry after an outage calls Airflow no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.airflow import DagRun
from bot.core import format as fmt
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
    text_reply,
)
from bot.core.verbs import Offer, Registry

LOG_LINES = 20  # the end of the first failed task's log shown in an alert
TASKS_SHOWN = 5
RUN_TYPES = {
    "scheduled": "scheduled",
    "manual": "manual",
    "backfill": "backfill",
    "asset_triggered": "asset-triggered",
    "dataset_triggered": "asset-triggered",  # Airflow 2's name for it
}


@dataclass(frozen=True)
class AlertButtons:
    """The action ids of the verbs an alert offers (declared on their buttons in commands/)."""

    logs: str
    clear: str
    mark: str
    ack: str | None = None  # Acknowledge, on an incident's message (bot/core/incidents.py)

    @classmethod
    def offered_by(cls, verbs: Registry) -> AlertButtons:
        return cls(
            logs=verbs.offered(Offer.LOGS),
            clear=verbs.offered(Offer.CLEAR),
            mark=verbs.offered(Offer.MARK),
            ack=verbs.offered(Offer.ACK),
        )


@dataclass(frozen=True)
class Failure:
    """What the watch read about a failed run, besides the run itself."""

    failed_tasks: Sequence[str] = ()
    log_task: str | None = None  # the task whose log is shown
    log_try: int | None = None
    log_lines: Sequence[str] = ()
    missing: str | None = None  # what could not be read from Airflow, said in the alert


def failure_alert(
    deployment: str,
    run: DagRun,
    failure: Failure,
    *,
    dag_url: str,
    run_url: str,
    buttons: AlertButtons,
) -> Reply:
    dag, run_id = run.dag_id, run.run_id
    head = f":x: *Run failed:* {link(dag_url, dag)} on {code(deployment)}"
    facts = [
        f"Run {link(run_url, run_id)}",
        RUN_TYPES.get(run.run_type or "", escape(run.run_type or "run")),
        f"started {fmt.when(run.start_date)}",
        f"ran {fmt.duration(run.duration_seconds)}",
    ]
    blocks: list[Block] = [section(f"{head}\n{' · '.join(facts)}")]
    tasks = list(failure.failed_tasks)
    if tasks:
        names = ", ".join(code(t) for t in tasks[:TASKS_SHOWN])
        more = f" and {len(tasks) - TASKS_SHOWN} more" if len(tasks) > TASKS_SHOWN else ""
        blocks.append(section(f"Failed: {names}{more}"))
    if failure.log_task and failure.log_lines:
        title = f"Last lines of {code(failure.log_task)}'s log (try {failure.log_try}):"
        blocks.append(section(_log_section(title, failure.log_lines)))
    if failure.missing:
        blocks.append(context(f":warning: {escape(failure.missing)}"))
    bar = Buttons()
    run_args: dict[str, Any] = {"run_id": run_id}
    logs_args = {**run_args, **({"task_id": failure.log_task} if failure.log_task else {})}
    blocks.append(
        actions(
            bar.button("Logs", Intent(buttons.logs, deployment, dag, args=logs_args)),
            bar.button(
                "Clear failed tasks",
                Intent(buttons.clear, deployment, dag, args=run_args),
                style="danger",
            ),
            bar.button("Mark success", Intent(buttons.mark, deployment, dag, args=run_args)),
            link_button("Open in Airflow", run_url),
        )
    )
    failed = f" Failed: {', '.join(escape(t) for t in tasks[:TASKS_SHOWN])}." if tasks else ""
    text = f"Run {escape(run_id)} of {escape(dag)} on {escape(deployment)} failed.{failed}"
    return Reply(text=text, blocks=blocks, ok=False, intents=tuple(bar.intents))


def success_line(deployment: str, run: DagRun, *, dag_url: str, run_url: str) -> Reply:
    kind = RUN_TYPES.get(run.run_type or "", escape(run.run_type or "run"))
    text = (
        f":white_check_mark: {link(dag_url, run.dag_id)} on {code(deployment)}: run "
        f"{link(run_url, run.run_id)} ({kind}) succeeded after "
        f"{fmt.duration(run.duration_seconds)}."
    )
    return text_reply(text)


def _log_section(title: str, lines: Sequence[str]) -> str:
    """The title and as many of the last lines as fit one section, each line cut to 300."""
    kept: list[str] = []
    budget = SECTION_LIMIT - len(title) - len(code_block("")) - 2
    for line in reversed(list(lines)[-LOG_LINES:]):
        line = line[:300]
        cost = len(code_block(line)) - len(code_block("")) + 1
        if cost > budget:
            break
        kept.insert(0, line)
        budget -= cost
    return f"{title}\n{code_block(chr(10).join(kept))}"


def to_message(reply: Reply) -> dict[str, Any]:
    """The reply as JSON data, to keep until it is posted."""
    return {
        "text": reply.text,
        "blocks": reply.blocks,
        "intents": [_intent(i) for i in reply.intents],
    }


def _intent(i: Intent) -> dict[str, Any]:
    return {"verb": i.verb, "deployment": i.deployment, "dag_id": i.dag_id, "args": i.args}


def with_button(message: dict[str, Any], text: str, intent: Intent) -> dict[str, Any]:
    """A kept message with one more button, in its last actions bar before its links (Open in
    Airflow stays last), or in a bar of its own."""
    intents = list(message.get("intents") or [])
    button = Buttons(after=len(intents)).button(text, intent)
    blocks = list(message["blocks"])
    bars = [i for i, b in enumerate(blocks) if b.get("type") == "actions"]
    if bars:
        elements = list(blocks[bars[-1]].get("elements", []))
        links = [e for e in elements if e.get("url")]
        kept = [e for e in elements if not e.get("url")]
        blocks[bars[-1]] = {**blocks[bars[-1]], "elements": [*kept, button, *links]}
    else:
        blocks.append(actions(button))
    return {**message, "blocks": blocks, "intents": [*intents, _intent(intent)]}


def from_message(message: dict[str, Any]) -> Reply:
    intents = tuple(
        Intent(i["verb"], i["deployment"], i.get("dag_id"), args=dict(i.get("args") or {}))
        for i in message.get("intents", [])
    )
    return Reply(text=str(message["text"]), blocks=list(message["blocks"]), intents=intents)
