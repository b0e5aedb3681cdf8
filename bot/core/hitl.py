"""What a task waiting for a person looks like in Slack (Airflow 3.1+ human-in-the-loop), and
what its post says once it is answered or no longer waits.

The post has the request's subject and body (Airflow's Markdown as Slack mrkdwn, escaped: the
body can make no link, mention or ping), the DAG and the run (links), who it is assigned to,
what Airflow takes if nobody answers in time, and one button per option. A request taking
several options or parameters has one button, which opens a form (commands/respond_form.py).

Each click on an option names the same claim (``claim_id``): of any number of clicks, on any
post of the request in any channel or inbox, one is sent to Airflow (bot/store/actions.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from bot.airflow.hitl import HitlRequest
from bot.core import format as fmt
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
from bot.core.verbs import Offer, Registry

BODY_LIMIT = 2500


@dataclass(frozen=True)
class HitlButtons:
    """The action ids of the buttons a request's post offers (declared in commands/respond.py):
    one per option, or one opening the form where the request takes more than a click."""

    answer: str
    form: str

    @classmethod
    def offered_by(cls, verbs: Registry) -> HitlButtons:
        return cls(answer=verbs.offered(Offer.ANSWER), form=verbs.offered(Offer.ANSWER_FORM))


@dataclass(frozen=True)
class HitlLinks:
    dag_url: str
    run_url: str


def claim_id(deployment: str, req: HitlRequest) -> str:
    """The one stored action every click on this request claims (a pending_action id)."""
    digest = hashlib.sha256(f"hitl\0{deployment}\0{req.dag_id}\0{req.key}".encode()).hexdigest()
    return "hitl" + digest[:28]


def request_post(
    deployment: str, req: HitlRequest, links: HitlLinks, *, buttons: HitlButtons
) -> Reply:
    head = f":raising_hand: *Waiting for a person:* {escape(req.subject)}"
    where = (
        f"{link(links.dag_url, req.dag_id)} on {code(deployment)} · run "
        f"{link(links.run_url, req.run_id)} · task {code(req.task_id)}"
        + (f" [{req.map_index}]" if req.map_index >= 0 else "")
    )
    blocks: list[Block] = [section(f"{head}\n{where}")]
    if req.body:
        blocks.append(section(mrkdwn(req.body)))
    facts = []
    if req.assigned_users:
        names = ", ".join(code(u.name or u.id) for u in req.assigned_users)
        facts.append(f"Assigned to {names}")
    if req.defaults:
        taken = ", ".join(code(d) for d in req.defaults)
        facts.append(f"If nobody answers before the task's timeout, Airflow takes {taken}")
    if req.created_at is not None:
        facts.append(f"waiting since {fmt.when(req.created_at)}")
    if facts:
        blocks.append(context(" · ".join(facts)))
    bar = Buttons()
    elements: list[Block] = []
    if req.takes_form:
        intent = Intent(buttons.form, deployment, req.dag_id, args=form_args(req))
        elements.append(bar.button("Answer…", intent, style="primary"))
    else:
        for index, option in enumerate(req.options):
            intent = Intent(buttons.answer, deployment, req.dag_id, args=answer_args(req, option))
            elements.append(bar.button(option, intent, style="primary" if index == 0 else None))
    elements.append(link_button("Open in Airflow", links.run_url))
    blocks.append(actions(*elements))
    text = f"{req.subject} ({req.dag_id} on {deployment}) is waiting for a person."
    return Reply(text=escape(text), blocks=blocks, intents=tuple(bar.intents))


def answer_args(req: HitlRequest, option: str) -> dict[str, object]:
    """A button's stored args: the run, and as ``conf`` the task and the option it sends."""
    return {
        "run_id": req.run_id,
        "subject": req.subject[:300],
        "conf": {"task_id": req.task_id, "map_index": req.map_index, "chosen_options": [option]},
    }


def form_args(req: HitlRequest) -> dict[str, object]:
    """The form button's stored args: the task, and what the form asks (bot's own copy, so the
    form opens within Slack's 3 seconds without asking Airflow)."""
    return {
        "run_id": req.run_id,
        "subject": req.subject[:300],
        "conf": {"task_id": req.task_id, "map_index": req.map_index},
        "options": list(req.options),
        "multiple": req.multiple,
        "defaults": list(req.defaults),
        "params": dict(req.params),
    }


def answered_post(subject: str, where: str, user_id: str, chosen: str, at: datetime) -> Reply:
    """The post once answered from Slack: who chose what, when; no buttons."""
    text = (
        f":white_check_mark: *{escape(subject)}* ({where}): <@{user_id}> chose "
        f"{code(chosen)} {fmt.when(at)}."
    )
    return text_reply(text, outcome=f"answered {code(chosen)}")


def closed_post(subject: str, where: str) -> Reply:
    """The post of a request that no longer waits, answered elsewhere or timed out."""
    text = (
        f":ballot_box_with_check: *{escape(subject)}* ({where}) no longer waits for an answer: "
        "it was answered in Airflow or from another message, or it timed out."
    )
    return text_reply(text)


def where_text(deployment: str, req: HitlRequest) -> str:
    return (
        f"{code(req.task_id)} of run {code(req.run_id)} of {code(req.dag_id)} on {code(deployment)}"
    )


_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")


def mrkdwn(markdown: str) -> str:
    """Airflow's Markdown as Slack mrkdwn: headings and bold as bold, bullets as bullets, a
    Markdown link as its text and its address in plain words. Escaped first, so nothing in it
    can become a Slack link, mention or ping."""
    lines = []
    for line in escape(markdown[:BODY_LIMIT]).splitlines():
        heading = _HEADING.match(line)
        if heading:
            line = f"*{heading.group(1).strip()}*"
        line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
        line = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", line)
        line = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", line)
        lines.append(line)
    return "\n".join(lines)


def version_refusal(deployment: str, version: str) -> Reply:
    """Human-in-the-loop on an Airflow before 3.1: said plainly, naming its version."""
    text = (
        f":no_entry: Tasks waiting for a person (human-in-the-loop) need Airflow 3.1 or later, "
        f"and {code(deployment)} runs Airflow {code(version)}."
    )
    return text_reply(text, ok=False, outcome="needs Airflow 3.1+")
