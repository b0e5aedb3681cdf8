"""The bot's own failures (usage, denials, the store, bugs) as something the user can act on;
Airflow's are rendered by the verb registry (commands/failures.py)."""

from __future__ import annotations

import logging
import uuid

from bot.core.parser import UsageError
from bot.core.reply import Reply, code, context, section, text_reply
from bot.store import StoreError

log = logging.getLogger(__name__)


def usage_reply(err: UsageError) -> Reply:
    lines = [f":warning: {err.problem}"]
    if err.usage:
        lines.append(f"Usage: {code(err.usage)}")
    text = "\n".join(lines)
    return text_reply(text, ephemeral=True, ok=False)


def internal_failure(exc: BaseException) -> Reply:
    """A bug on the bot's side: the details go to the log under a reference, never to Slack."""
    ref = uuid.uuid4().hex[:8]
    log.error("internal error ref=%s", ref, exc_info=exc)
    text = (
        f"Something went wrong inside the bot (reference `{ref}`). Nothing more was done; "
        "the bot's operators can find the details in its log under that reference."
    )
    return Reply(
        text=text,
        blocks=[section(f":boom: {text}"), context("Sorry about that.")],
        ok=False,
        outcome="failed: internal error",
        error=f"internal error, log reference {ref}",
    )


def denial_reply(reason: str) -> Reply:
    text = f":no_entry: {reason}"
    return text_reply(text, ephemeral=True, ok=False, outcome="denied")


def store_failure(exc: StoreError) -> Reply:
    """The audit trail could not be written: refuse to act rather than act unrecorded."""
    ref = uuid.uuid4().hex[:8]
    log.error("state store failure ref=%s: %s", ref, exc.kind)
    text = (
        "The bot cannot write its audit trail right now, so it did nothing "
        f"(reference `{ref}`). Try again in a minute; if it persists, tell the bot's operators."
    )
    return Reply(text=text, blocks=[section(f":x: {text}")], ok=False, outcome="failed: store down")
