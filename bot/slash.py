"""The ``/airflow`` slash command: ack at once, then do the slow part on our own pool.

The listener runs on the request thread (Bolt's ``process_before_response=True``) and does only
what takes microseconds: parse, answer usage errors and local verbs in the ack itself, and
hand everything that calls Airflow to ``Workers``. The worker posts the parent message, runs
the command, puts the reply in the thread and writes the outcome on the parent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack
from slack_sdk.errors import SlackApiError

from bot.airflow import AirflowClient
from bot.config import Config
from bot.failures import usage_reply
from bot.parser import UsageError, parse_command
from bot.posting import CannotPost, Poster, respond
from bot.reply import Reply
from bot.runner import run_command
from bot.workers import Workers
from commands import LOCAL_VERBS, Context

log = logging.getLogger(__name__)
BUSY = (
    ":hourglass: The bot is busy with {n} requests right now. Nothing was done: "
    "try again in a minute."
)


class SlashCommand:
    def __init__(
        self,
        *,
        config: Config,
        clients: Mapping[str, AirflowClient],
        poster: Poster,
        workers: Workers,
    ) -> None:
        self._config = config
        self._clients = clients
        self._poster = poster
        self._workers = workers

    def on_command(self, ack: Ack, command: dict[str, Any]) -> None:
        user = str(command.get("user_id", ""))
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
        ctx = Context(
            command=cmd,
            user_id=user,
            channel_id=channel,
            config=self._config,
            client=self._clients.get(cmd.deployment or ""),
        )
        if cmd.verb in LOCAL_VERBS:
            _ack_with(ack, run_command(ctx))
            return
        response_url = str(command.get("response_url", ""))
        if not self._workers.try_submit(lambda: self._work(ctx, response_url)):
            ack(text=BUSY.format(n=self._workers.capacity))
            return
        ack()

    def _work(self, ctx: Context, response_url: str) -> None:
        header = parent_header(ctx)
        try:
            thread = self._poster.open_thread(ctx.channel_id, header)
        except CannotPost as exc:
            log.info(
                "cannot post in %s (%s): answering via response_url", ctx.channel_id, exc.error
            )
            respond(response_url, run_command(ctx), invite_hint=exc.needs_invite)
            return
        reply = run_command(ctx)
        try:
            self._poster.reply(thread, reply)
        except SlackApiError as exc:
            log.warning(
                "threaded reply failed (%s): answering via response_url", exc.response.get("error")
            )
            respond(response_url, reply)
        self._poster.close(thread, reply)


def parent_header(ctx: Context) -> str:
    """ "@user ran `/airflow ...`", as typed, naming the deployment where it was defaulted."""
    cmd = ctx.command
    typed = cmd.typed.replace("`", "'")[:300]
    header = f"<@{ctx.user_id}> ran `/airflow {typed}`"
    if cmd.deployment and cmd.deployment not in cmd.typed.split()[1:2]:
        header += f" on `{cmd.deployment}`"
    return header


def _ack_with(ack: Ack, reply: Reply) -> None:
    ack(text=reply.text, blocks=reply.blocks or None, response_type="ephemeral")
