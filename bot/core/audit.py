"""The audit trail: every command and button action, allowed or denied, in the store.

An entry is begun before the action and ended with its outcome before the reply is sent, so
an action that crashes the bot midway is still on record. Actions that change Airflow (and
denials of them) are also posted to the config's ``audit_channel`` when there is one.

Each entry says how the action came (``source``: a slash command or a button) and, when it did
not come from Slack, from where: ``console:slash`` and ``console:button`` for what was typed and
clicked in ``python -m bot console``.
"""

from __future__ import annotations

import logging

from bot.core.context import Context
from bot.core.messenger import Messenger, Undelivered
from bot.core.reply import Reply, code
from bot.core.runner import run_command
from bot.store import AuditWriter

log = logging.getLogger(__name__)
SLACK = "slack"  # the origin of every request but the console's (bot/slack/origin.py)


class Audit:
    def __init__(self, store: AuditWriter, *, messenger: Messenger, channel: str | None) -> None:
        self._store = store
        self._messenger = messenger
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
            source=source if ctx.origin == SLACK else f"{ctx.origin}:{source}",
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
        if ctx.verbs[ctx.command.verb].writes:
            mark = (
                ":hourglass_flowing_sand: "
                if reply.waiting
                else (":white_check_mark: " if reply.ok else ":x: ")
            )
            self._announce(ctx, mark + outcome)

    def denied(self, ctx: Context, reason: str, *, source: str = "slash") -> None:
        entry = self.begin(ctx, allowed=False, source=source)
        self._store.end_audit(entry, ok=False, outcome="denied", error=reason)
        if ctx.verbs[ctx.command.verb].writes:
            self._announce(ctx, ":no_entry: denied")

    def _announce(self, ctx: Context, result: str) -> None:
        if not self._channel:
            return
        cmd = ctx.command
        if ctx.origin != SLACK:
            result += f" (from the {ctx.origin})"
        # What was typed is the user's own text, so it is shown, escaped, in a code span.
        text = f"<@{ctx.user_id}> in <#{ctx.channel_id}>: {code(f'/airflow {cmd.typed}')} {result}"
        try:
            self._messenger.post(self._channel, text)
        except Undelivered as exc:
            # The store holds the record; the channel is a convenience copy.
            log.warning("could not post to the audit channel: %s", exc.error)
