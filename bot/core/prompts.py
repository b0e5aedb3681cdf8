"""What a confirmation or an approval looks like: the prompt with the whole conf, its buttons,
and the words for where an action stands (bot/core/approvals.py decides the clicks)."""

from __future__ import annotations

import json
import unicodedata

from bot.config import Deployment
from bot.core import format as fmt
from bot.core.reply import (
    SECTION_LIMIT,
    Block,
    Reply,
    actions,
    code,
    code_block,
    escape,
    section,
    text_reply,
)
from bot.store import PendingAction

# A conf is shown whole in at most this many sections of the prompt (Slack cuts a section at
# 3,000 characters); one that needs more is refused rather than shown in part.
MAX_CONF_SECTIONS = 4
AWAITING_CONFIRM, AWAITING_APPROVAL = "awaiting_confirm", "awaiting_approval"
RUNNING, DONE, FAILED = "running", "done", "failed"
CANCELLED, REJECTED, EXPIRED = "cancelled", "rejected", "expired"


def prompt(action: PendingAction, dep: Deployment, what: str) -> Reply:
    conf = conf_sections(action.conf or {}) or []
    if conf:
        what += " with this conf (shown whole, as Airflow will get it)"
    expires = f"Expires {fmt.when(action.expires_at)}."
    if action.state == AWAITING_APPROVAL:
        approvers = ", ".join(
            [f"<@{u}>" for u in sorted(dep.approvers)]
            + [f"<!subteam^{g}>" for g in sorted(dep.approver_groups)]
        )
        text = (
            f":lock: *Approval needed:* <@{action.user_id}> asks to {what} on {code(dep.name)}.\n"
            f"An approver ({approvers}) other than <@{action.user_id}> must approve. {expires}"
        )
        buttons = [_button("Approve", "approve", action.id, "primary"),
                   _button("Reject", "reject", action.id, "danger")]  # fmt: skip
        outcome = "awaiting approval"
    else:
        text = (
            f":warning: *Confirm:* {what} on {code(dep.name)}?\n"
            f"Requested by <@{action.user_id}>. Nothing happens until someone confirms. {expires}"
        )
        buttons = [_button("Confirm", "confirm", action.id, "primary"),
                   _button("Cancel", "cancel", action.id, None)]  # fmt: skip
        outcome = "awaiting confirmation"
    return Reply(
        text=text,
        blocks=[
            section(text),
            *(section(part) for part in conf),
            actions(*buttons, block_id="decision"),
        ],
        waiting=True,
        outcome=outcome,
    )


def conf_sections(conf: dict[str, object]) -> list[str] | None:
    """The whole conf as code blocks, one per prompt section; None when it cannot be shown whole
    in ``MAX_CONF_SECTIONS`` sections. Indented where that fits, else compact."""
    if not conf:
        return []
    budget = SECTION_LIMIT - len(code_block(""))
    for indent in (2, None):
        text = _visible(json.dumps(conf, indent=indent, ensure_ascii=False))
        pieces = _split(text, budget)
        if len(pieces) <= MAX_CONF_SECTIONS:
            return [code_block(piece) for piece in pieces]
    return None


def _visible(text: str) -> str:
    """JSON text with every invisible or direction-changing character written as its JSON
    escape, so that what an approver reads is what Airflow gets. Only characters inside JSON
    strings can be such, and an escape there means the same character."""
    return "".join(
        json.dumps(char)[1:-1]
        if char not in " \n" and unicodedata.category(char)[0] in "CZ"
        else char
        for char in text
    )


def _split(text: str, budget: int) -> list[str]:
    """``text`` in pieces whose escaped length fits ``budget``, cut after a line where one can."""
    pieces: list[str] = []
    while text:
        cost, end, last_newline = 0, len(text), -1
        for i, char in enumerate(text):
            cost += len(escape(char))
            if cost > budget:
                end = last_newline + 1 if last_newline > 0 else i
                break
            if char == "\n":
                last_newline = i
        pieces.append(text[:end].removesuffix("\n"))
        text = text[end:]
    return pieces


def unshowable() -> Reply:
    limit = MAX_CONF_SECTIONS * (SECTION_LIMIT - len(code_block("")))
    text = (
        ":no_entry: Nothing was done: this conf cannot be shown whole to whoever must confirm "
        f"or approve it (as shown, it would take more than {limit:,} characters; `<`, `>` and "
        "`&` count several each). Make it shorter and ask again."
    )
    return text_reply(text, ok=False, outcome="refused: conf too long to show")


def _button(text: str, action_id: str, value: str, style: str | None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def state_words(action: PendingAction) -> str:
    by = action.approved_by or action.confirmed_by
    words = {
        RUNNING: "being carried out",
        DONE: "done",
        FAILED: "tried, and it failed",
        CANCELLED: "cancelled",
        REJECTED: "rejected",
        EXPIRED: "expired",
    }
    text = words.get(action.state, action.state)
    if by and action.state in (RUNNING, DONE, FAILED):
        text += f" (confirmed by <@{by}>)" if not action.approved_by else f" (approved by <@{by}>)"
    return text
