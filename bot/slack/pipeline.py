"""One request pipeline for commands, clicks and form submissions:

    build the context -> permit (a denial is audited and told) -> run (audited; a write waits
    for its confirmation or approval) -> answer (bot/slack/answers.py) -> follow the run

Listeners (bot/slack/listeners/) turn what Slack sent into a ``Request`` and an ``Answer``,
ack, and hand both to ``Pipeline.handle`` on the worker pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import BoltContext

from bot.core.audit import SLACK
from bot.core.buttons import seal
from bot.core.context import Context, PagePosition
from bot.core.failures import denial_reply, store_failure
from bot.core.follower import follow_run
from bot.core.messenger import Thread
from bot.core.parser import Command
from bot.core.reply import Reply
from bot.slack.answers import Answer
from bot.slack.handover import RAW_KEY, RESUMED_KEY
from bot.slack.journal import request_key
from bot.slack.replay import SIGNATURE_KEY, once
from bot.slack.services import Services
from bot.store import JournaledRequest, StoreError

log = logging.getLogger(__name__)
SLASH, BUTTON = "slash", "button"  # how a request came, for the audit trail


@dataclass(frozen=True)
class Request:
    command: Command
    user_id: str
    channel_id: str
    origin: str = SLACK  # or "console" (bot/slack/origin.py)
    source: str = SLASH
    page: PagePosition | None = None  # list: the page a Next/Previous button asked for


class Pipeline:
    def __init__(self, services: Services) -> None:
        self._s = services

    def submit(self, context: BoltContext, work: Callable[[], None]) -> bool:
        """Hand ``work`` to the workers, to be done once however often Slack delivers the
        request (bot/slack/replay.py); False, at once, when the bot is too busy to take it.
        Written down before the ack, it is carried on by another process if this one stops or
        dies before it is done (bot/slack/journal.py)."""
        raw = context.get(RAW_KEY)
        if raw is None:  # a test or the console driving the app directly
            return self._s.workers.try_submit(once(self._s.store, context, work))
        journal = self._s.journal
        resumed: JournaledRequest | None = context.get(RESUMED_KEY)
        key = request_key(context.get(SIGNATURE_KEY), raw)
        if resumed is not None and journal.holds(key):
            return True  # its lease lapsed while this process still does it (the store was down)
        journal.accepted(key, raw)
        # Carried on from another process, it was checked there: its signature is in the store.
        checked = work if resumed is not None else once(self._s.store, context, work)

        def job() -> None:
            with journal.running(key, wrote_before=resumed is not None and resumed.wrote):
                checked()

        if self._s.workers.try_submit(job, handover=key):
            return True
        if resumed is not None:
            journal.release([key])  # too busy to carry it on: another process may
        else:
            journal.not_submitted(key)  # the asker is told the bot is busy
        return False

    def context(self, req: Request) -> Context:
        return self._s.contexts.of(
            req.command,
            user_id=req.user_id,
            channel_id=req.channel_id,
            origin=req.origin,
            page=req.page,
        )

    def permit(self, req: Request, answer: Answer) -> Context | None:
        """The asker's context when their grants allow the request; else they are told why
        and the denial is audited."""
        ctx = self.context(req)
        cmd = ctx.command
        verb = ctx.verbs.get(cmd.verb)
        granted_as = (verb.granted_as if verb is not None else None) or cmd.verb
        decision = ctx.access.check(
            channel_id=req.channel_id, verb=granted_as, deployment=cmd.deployment, dag_id=cmd.dag_id
        )
        if decision.allowed:
            return ctx
        self._s.audit.denied(ctx, decision.reason, source=req.source)
        answer.tell(denial_reply(decision.reason))
        return None

    def handle(
        self, req: Request, answer: Answer, *, in_place: bool = False, own_run_id: bool = False
    ) -> None:
        """Serve one request end to end. ``in_place``: the answer replaces the clicked message.
        ``own_run_id``: a verb that can take the bot's run id gets one (a form submission)."""
        try:
            ctx = self.permit(req, answer)
            if ctx is None:
                return
            verb = ctx.verbs[ctx.command.verb]
            if verb.private:
                reply = self._s.audit.run(ctx, source=req.source)
                answer.tell(seal(reply, self._s.store, user_id=ctx.user_id,
                                 channel_id=ctx.channel_id, thread_ts=None))  # fmt: skip
                return
        except StoreError as exc:
            answer.tell(store_failure(exc))
            return
        thread = answer.thread(ctx)
        try:
            reply = self.run(ctx, req.source, thread, own_run_id=own_run_id)
        except StoreError as exc:
            answer.fail(store_failure(exc), thread)
            return
        if reply.ephemeral:
            answer.tell(reply)  # for the asker alone (a refusal the verb itself decided)
            return
        if verb.follows_run and reply.ok and reply.run_id and thread is not None:
            # Recorded before the reply is posted, so a crash in between loses no follow.
            follow_run(self._s.follower, ctx.command, thread, ctx.user_id, reply.run_id)
        answer.show(reply, thread, in_place=in_place)
        answer.close(thread, reply)

    def run(
        self, ctx: Context, source: str, thread: Thread | None, *, own_run_id: bool = False
    ) -> Reply:
        """Run the command, or ask for its confirmation: recorded in the audit trail first."""
        cmd, approvals = ctx.command, self._s.approvals
        if approvals.waits_for_click(cmd.verb, cmd.deployment):
            entry = self._s.audit.begin(ctx, source=source)
            reply = approvals.ask(cmd, user_id=ctx.user_id, channel_id=ctx.channel_id,
                                  thread=thread)  # fmt: skip
            self._s.audit.end(entry, ctx, reply)
            return reply
        if own_run_id and ctx.verbs[cmd.verb].names_run:
            reply = approvals.run_once(cmd, user_id=ctx.user_id, channel_id=ctx.channel_id,
                                       thread=thread, origin=ctx.origin)  # fmt: skip
        else:
            reply = self._s.audit.run(ctx, source=source)
        thread_ts = thread.ts if thread else None
        return seal(reply, self._s.store, user_id=ctx.user_id, channel_id=ctx.channel_id,
                    thread_ts=thread_ts)  # fmt: skip
