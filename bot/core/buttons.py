"""Turning a reply's button intents into stored actions, so a button's value is an opaque id.

A click then names an action the bot itself stored; it can never describe one. Whoever clicks
is authorised again when the click arrives (bot/slack/listeners/actions.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.core.reply import Block, Reply
from bot.store import ActionIssuer, NewAction

# Buttons that only look (pages, runs, refresh) or open a form stay usable this long; one that
# is older says so and asks for the command again.
VIEW_BUTTON_TTL_S = 30 * 24 * 3600.0
INTENT_PREFIX = "intent:"


def seal(
    reply: Reply, store: ActionIssuer, *, user_id: str, channel_id: str, thread_ts: str | None
) -> Reply:
    """The reply with each ``intent:N`` button value replaced by the id of a stored action."""
    if not reply.intents:
        return reply
    ids = store.add_actions(
        [
            NewAction(
                verb=intent.verb,
                state="ready",
                user_id=user_id,
                channel_id=channel_id,
                thread_ts=thread_ts,
                deployment=intent.deployment,
                dag_id=intent.dag_id,
                args=intent.args,
                ttl_seconds=VIEW_BUTTON_TTL_S,
            )
            for intent in reply.intents
        ]
    )
    return dataclasses.replace(reply, blocks=_replace_values(reply.blocks, ids), intents=())


def _replace_values(blocks: list[Block], ids: list[str]) -> list[Block]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            value = out.get("value")
            if isinstance(value, str) and value.startswith(INTENT_PREFIX):
                out["value"] = ids[int(value.removeprefix(INTENT_PREFIX))]
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return [walk(block) for block in blocks]
