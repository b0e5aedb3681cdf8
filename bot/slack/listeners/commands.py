"""The ``/airflow`` slash command: ack at once, then do everything else on our own pool.

The listener runs on the request thread (Bolt's ``process_before_response=True``) and does only
what takes microseconds: parse, answer usage errors in the ack itself, and hand the rest to
``Workers``. There the pipeline authorises the asker (which may ask Slack about user groups),
audits, runs and answers: in a thread under a parent message, or only to the asker for the
verbs that answer privately and for denials.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext

from bot.core.failures import usage_reply
from bot.core.parser import UsageError, parse_command
from bot.core.reply import Reply
from bot.slack.answers import CommandAnswer
from bot.slack.origin import origin_of
from bot.slack.pipeline import Pipeline, Request
from bot.slack.routes import Routes
from bot.slack.services import Services

COMMAND = "/airflow"
BUSY = (
    ":hourglass: The bot is busy with {n} requests right now. Nothing was done: "
    "try again in a minute."
)


def register(routes: Routes, services: Services) -> None:
    pipeline = Pipeline(services)
    contexts = services.contexts

    def on_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        channel = str(command.get("channel_id", ""))
        try:
            cmd = parse_command(
                str(command.get("text", "")),
                contexts.verbs,
                deployments=list(contexts.config.deployments),
                default_deployment=contexts.config.default_deployment(channel),
            )
        except UsageError as err:
            _ack_with(ack, usage_reply(err))
            return
        req = Request(cmd, str(command.get("user_id", "")), channel, origin=origin_of(context))
        answer = CommandAnswer(
            services.messenger,
            channel_id=channel,
            response_url=str(command.get("response_url", "")),
        )
        if not pipeline.submit(context, lambda: pipeline.handle(req, answer)):
            ack(text=BUSY.format(n=services.workers.capacity))
            return
        ack()

    routes.command(COMMAND, on_command)


def _ack_with(ack: Ack, reply: Reply) -> None:
    ack(text=reply.text, blocks=reply.blocks or None, response_type="ephemeral")
