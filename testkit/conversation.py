"""Reading what the bot said in Slack, from the stand-in's record, as a user would see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.tools.localslack import Call, SlackStandin


def visible_text(message: dict[str, Any]) -> str:
    """The words a person sees: block texts (and field texts), or the fallback text."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    return "\n".join(parts) if parts else str(message.get("text", ""))


@dataclass
class Conversation:
    parent: dict[str, Any]
    replies: list[dict[str, Any]]

    @property
    def reply_text(self) -> str:
        return "\n".join(visible_text(r) for r in self.replies)


def finished_conversation(
    slack: SlackStandin, channel: str, *, header: str, timeout: float = 30
) -> Conversation:
    """Wait for the bot to close the thread it opened for ``header`` (the parent updated)."""

    def parent_posted(call: Call) -> bool:
        p = call.params
        return p.get("channel") == channel and "thread_ts" not in p and header in p.get("text", "")

    parent_call = slack.wait_for("chat.postMessage", where=parent_posted, timeout=timeout)[-1]
    parents = [
        m
        for m in slack.messages.get(channel, [])
        if header in m.get("text", "") and "thread_ts" not in m
    ]
    assert parents, f"no parent message for {header!r}: {parent_call}"
    ts = parents[-1]["ts"]
    slack.wait_for(
        "chat.update",
        where=lambda c: c.params.get("channel") == channel and c.params.get("ts") == ts,
        timeout=timeout,
    )
    return Conversation(parent=slack.message(channel, ts), replies=slack.thread(channel, ts))
