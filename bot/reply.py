"""What a command says back: Block Kit blocks plus fallback text, and where it should go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]
SECTION_LIMIT = 3000  # Slack refuses a section whose text is longer


@dataclass(frozen=True)
class Reply:
    text: str  # fallback: notifications, screen readers, clients without blocks
    blocks: list[Block] = field(default_factory=list)
    ephemeral: bool = False  # only the asker sees it (help, usage errors, denials)
    ok: bool = True  # False when the action failed: the parent message says so
    outcome: str | None = None  # one line for the parent message, e.g. "paused `etl`"
    run_id: str | None = None  # the DAG run the command created, for the audit trail
    error: str | None = None  # what failed, for the audit trail (never shown twice to the user)


def section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def text_reply(text: str, *, ephemeral: bool = False, ok: bool = True) -> Reply:
    return Reply(text=text, blocks=[section(text)], ephemeral=ephemeral, ok=ok)


def escape(text: str) -> str:
    """Slack's three control characters, so DAG ids and Airflow's words render as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label).replace('|', '¦')}>"
