"""What a command says back: Block Kit blocks plus fallback text, and where it should go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]
SECTION_LIMIT = 3000  # Slack refuses a section whose text is longer
LINK_ACTION = "open_link"  # a button that opens a URL: Slack still sends the click; it is acked


@dataclass(frozen=True)
class Reply:
    text: str  # fallback: notifications, screen readers, clients without blocks
    blocks: list[Block] = field(default_factory=list)
    ephemeral: bool = False  # only the asker sees it (help, usage errors, denials)
    ok: bool = True  # False when the action failed: the parent message says so
    waiting: bool = False  # nothing done yet: a confirmation or an approval is awaited
    outcome: str | None = None  # one line for the parent message, e.g. "paused `etl`"
    run_id: str | None = None  # the DAG run the command created, for the audit trail
    error: str | None = None  # what failed, for the audit trail (never shown twice to the user)
    # What the buttons in ``blocks`` stand for: a button's value says "intent:<index>" until
    # bot/core/buttons.py keeps the intent in the store and puts the stored action's id instead.
    intents: tuple[Intent, ...] = ()


@dataclass(frozen=True)
class Intent:
    """What clicking a button will do, described by the command that offers it."""

    verb: str  # the button's action id, which a verb declares (``Verb.buttons``, commands/)
    deployment: str
    dag_id: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


class Buttons:
    """Collects a reply's buttons and the intents behind them. ``after``: the intents the
    message already has, for a button added to a rendered one (numbered after them)."""

    def __init__(self, *, after: int = 0) -> None:
        self.intents: list[Intent] = []
        self._after = after

    def button(self, text: str, intent: Intent, *, style: str | None = None) -> Block:
        self.intents.append(intent)
        element: Block = {
            "type": "button",
            "text": {"type": "plain_text", "text": text[:75]},
            "action_id": intent.verb,
            "value": f"intent:{self._after + len(self.intents) - 1}",
        }
        if style:
            element["style"] = style
        return element


def link_button(text: str, url: str) -> Block:
    # Slack still sends the click to the app, which acks it (bot/slack/listeners/actions.py).
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": LINK_ACTION,
        "url": url,
    }


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def text_reply(
    text: str,
    *,
    ephemeral: bool = False,
    ok: bool = True,
    outcome: str | None = None,
    run_id: str | None = None,
) -> Reply:
    """A reply that is one section of ``text`` (mrkdwn, escaped by whoever built it)."""
    return Reply(
        text=text,
        blocks=[section(text)],
        ephemeral=ephemeral,
        ok=ok,
        outcome=outcome,
        run_id=run_id,
    )


# A backtick inside a value would close the code span or block it is put in; this look-alike
# (U+02CB, modifier letter grave accent) cannot.
_BACKTICK_STANDIN = "\u02cb"


def escape(text: str) -> str:
    """Slack's three control characters, so that a value from a user, from Airflow or from the
    config renders as typed: no mention, channel ping or link exists unless our code made it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(value: str) -> str:
    """``value`` as inline code, escaped, on one line: nothing in it can end the span."""
    flat = " ".join(value.split("\n")) if "\n" in value else value
    return "`" + escape(flat).replace("`", _BACKTICK_STANDIN) + "`"


def code_block(text: str) -> str:
    """``text`` as a preformatted block, escaped: nothing in it can end the block."""
    return "```\n" + escape(text).replace("`", _BACKTICK_STANDIN) + "\n```"


def link(url: str, label: str) -> str:
    """A link our code makes: the URL is ours (built with quoted path segments), the label is
    escaped and cannot end the link. The URL is escaped too, and a ``|`` in it (a configured
    base URL, say) percent-encoded, so that nothing in it can end the link early either."""
    target = escape(url).replace("|", "%7C")
    return f"<{target}|{escape(label).replace('|', '¦')}>"
