"""The audit trail: every command and button action, allowed or denied, in the store.

An entry is begun before the action and ended with its outcome before the reply is sent, so
an action that crashes the bot midway is still on record. Actions that change Airflow (and
denials of them) are also posted to the config's ``audit_channel`` when there is one.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.posting import Poster
from bot.reply import Reply, code
from bot.runner import run_command
from bot.store import Store
from commands import Context

log = logging.getLogger(__name__)
WRITE_VERBS = frozenset({"trigger", "pause", "unpause", "clear"})


class Audit:
    def __init__(self, store: Store, *, poster: Poster, channel: str | None) -> None:
        self._store = store
        self._poster = poster
        self._channel = channel

    def begin(self, ctx: Context, *, allowed: bool = True, source: str = "slash") -> int:
        cmd = ctx.command
        return self._store.begin_audit(
            user_id=ctx.user_id,
            channel_id=ctx.channel_id,
            verb=cmd.verb,
            deployment=cmd.deployment,
            dag_id=cmd.dag_id,
            logical_date=cmd.logical_date,
            conf=cmd.conf or None,
            source=source,
            allowed=allowed,
            text=cmd.typed or None,
        )

    def run(self, ctx: Context, *, source: str = "slash") -> Reply:
        """Run the command, recorded before acting: if the record cannot be written, nothing
        is done (the store's error propagates)."""
        entry = self.begin(ctx, source=source)
        reply = run_command(ctx)
        self.end(entry, ctx, reply)
        return reply

    def end(self, entry_id: int, ctx: Context, reply: Reply) -> None:
        outcome = reply.outcome or ("done" if reply.ok else "failed")
        self._store.end_audit(
            entry_id, ok=reply.ok, outcome=outcome, run_id=reply.run_id, error=reply.error
        )
        if ctx.command.verb in WRITE_VERBS:
            mark = (
                ":hourglass_flowing_sand: "
                if reply.waiting
                else (":white_check_mark: " if reply.ok else ":x: ")
            )
            self._announce(ctx, mark + outcome)

    def denied(self, ctx: Context, reason: str, *, source: str = "slash") -> None:
        entry = self.begin(ctx, allowed=False, source=source)
        self._store.end_audit(entry, ok=False, outcome="denied", error=reason)
        if ctx.command.verb in WRITE_VERBS:
            self._announce(ctx, ":no_entry: denied")

    def _announce(self, ctx: Context, result: str) -> None:
        if not self._channel:
            return
        cmd = ctx.command
        # What was typed is the user's own text, so it is shown, escaped, in a code span.
        text = f"<@{ctx.user_id}> in <#{ctx.channel_id}>: {code(f'/airflow {cmd.typed}')} {result}"
        try:
            self._poster.post(self._channel, text)
        except SlackApiError as exc:
            # The store holds the record; the channel is a convenience copy.
            log.warning("could not post to the audit channel: %s", exc.response.get("error"))
