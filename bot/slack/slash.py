"""The ``/airflow`` slash command: ack at once, then do everything else on our own pool.

The listener runs on the request thread (Bolt's ``process_before_response=True``) and does only
what takes microseconds: parse, answer usage errors in the ack itself, and hand the rest to
``Workers``. There the asker is authorised (which may ask Slack about user groups), the
action is audited, run, and answered: in a thread under a parent message, or only to the asker
for help, whoami, deployments and denials.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.airflow import AirflowClient
from bot.config import Config
from bot.core.audit import Audit, origin_of
from bot.core.buttons import seal
from bot.core.failures import denial_reply, store_failure, usage_reply
from bot.core.follower import Follower, follow_run
from bot.core.parser import Command, UsageError, parse_command
from bot.core.pending import PendingActions
from bot.core.permissions import Permissions
from bot.core.reply import Reply, code
from bot.core.workers import Workers
from bot.slack.posting import CannotPost, Poster, Thread, respond
from bot.slack.replay import once
from bot.store import Store
from commands import Context

log = logging.getLogger(__name__)
BUSY = (
    ":hourglass: The bot is busy with {n} requests right now. Nothing was done: "
    "try again in a minute."
)
# Answered only to the asker, never in the channel.
PRIVATE_VERBS = frozenset({"help", "whoami", "deployments"})


class SlashCommand:
    def __init__(
        self,
        *,
        config: Config,
        clients: Mapping[str, AirflowClient],
        poster: Poster,
        workers: Workers,
        permissions: Permissions,
        audit: Audit,
        store: Store,
        pending: PendingActions,
        follower: Follower,
    ) -> None:
        self._config = config
        self._clients = clients
        self._poster = poster
        self._workers = workers
        self._permissions = permissions
        self._audit = audit
        self._store = store
        self._pending = pending
        self._follower = follower

    def on_command(self, ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        channel = str(command.get("channel_id", ""))
        try:
            cmd = parse_command(
                str(command.get("text", "")),
                deployments=list(self._config.deployments),
                default_deployment=self._config.default_deployment(channel),
            )
        except UsageError as err:
            _ack_with(ack, usage_reply(err))
            return
        user = str(command.get("user_id", ""))
        response_url = str(command.get("response_url", ""))
        origin = origin_of(context)
        serve = once(
            self._store, context, lambda: self._serve(cmd, user, channel, response_url, origin)
        )
        if not self._workers.try_submit(serve):
            ack(text=BUSY.format(n=self._workers.capacity))
            return
        ack()

    def _serve(self, cmd: Command, user: str, channel: str, response_url: str, origin: str) -> None:
        ctx = Context(
            command=cmd,
            user_id=user,
            channel_id=channel,
            config=self._config,
            access=self._permissions.access_for(user),
            client=self._clients.get(cmd.deployment or ""),
            origin=origin,
        )
        decision = ctx.access.check(
            channel_id=channel, verb=cmd.verb, deployment=cmd.deployment, dag_id=cmd.dag_id
        )
        try:
            if not decision.allowed:
                self._audit.denied(ctx, decision.reason)
                respond(response_url, denial_reply(decision.reason))
                return
            if cmd.verb in PRIVATE_VERBS:
                respond(response_url, self._audit.run(ctx))
                return
        except SQLAlchemyError as exc:
            respond(response_url, store_failure(exc))
            return
        self._in_thread(ctx, response_url)

    def _in_thread(self, ctx: Context, response_url: str) -> None:
        try:
            thread = self._poster.open_thread(ctx.channel_id, parent_header(ctx))
        except CannotPost as exc:
            log.info("cannot post in %s (%s): using response_url", ctx.channel_id, exc.error)
            respond(response_url, self._answer(ctx, None), invite_hint=exc.needs_invite)
            return
        reply = self._answer(ctx, thread)
        if ctx.command.verb == "trigger" and reply.ok and reply.run_id:
            follow_run(self._follower, ctx.command, ctx.channel_id, thread, ctx.user_id,
                       reply.run_id)  # fmt: skip
        try:
            self._poster.reply(thread, reply)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("threaded reply failed (%s): using response_url", error)
            respond(response_url, reply)
        self._poster.close(thread, reply)

    def _answer(self, ctx: Context, thread: Thread | None) -> Reply:
        """Run the command (or ask for its confirmation), recorded in the audit trail first."""
        cmd = ctx.command
        try:
            if self._pending.waits_for_click(cmd.verb, cmd.deployment):
                entry = self._audit.begin(ctx)
                reply = self._pending.ask(
                    cmd, user_id=ctx.user_id, channel_id=ctx.channel_id, thread=thread
                )
                self._audit.end(entry, ctx, reply)
                return reply
            reply = self._audit.run(ctx)
            thread_ts = thread.ts if thread else None
            return seal(reply, self._store, user_id=ctx.user_id, channel_id=ctx.channel_id,
                        thread_ts=thread_ts)  # fmt: skip
        except SQLAlchemyError as exc:
            return store_failure(exc)


def parent_header(ctx: Context) -> str:
    """'@user ran `/airflow ...`', as typed, naming the deployment where it was defaulted."""
    cmd = ctx.command
    header = f"<@{ctx.user_id}> ran {code(f'/airflow {cmd.typed[:300]}')}"
    if cmd.deployment and cmd.deployment not in cmd.typed.split()[1:2]:
        header += f" on {code(cmd.deployment)}"
    return header


def _ack_with(ack: Ack, reply: Reply) -> None:
    ack(text=reply.text, blocks=reply.blocks or None, response_type="ephemeral")
