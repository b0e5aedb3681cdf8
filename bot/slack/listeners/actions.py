"""Button clicks: every click acked at once, the clicker authorised afresh.

A button's value is the id of an action the bot stored when it posted the button
(bot/core/buttons.py, bot/core/approvals.py); the click is looked up and becomes the command
the button stands for (the verb that declares the button, in commands/), which goes through
the same pipeline as a typed one: checked against the clicker's own grants (anyone who sees a
message can click its buttons), audited, and answered where it was clicked. Confirm, Cancel,
Approve and Reject are decided by bot/core/approvals.py.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk.errors import SlackApiError

from bot.core import format as fmt
from bot.core.approvals import DECISION_ACTIONS, Choice
from bot.core.context import PagePosition
from bot.core.failures import store_failure
from bot.core.parser import Command, stored_command
from bot.core.reply import LINK_ACTION, text_reply
from bot.core.verbs import Button, Verb
from bot.slack.answers import ClickAnswer
from bot.slack.origin import origin_of
from bot.slack.pipeline import BUTTON, Pipeline, Request
from bot.slack.routes import Routes
from bot.slack.services import Services
from bot.store import PendingAction, StoreError

log = logging.getLogger(__name__)
BUSY = ":hourglass: The bot is busy right now. Nothing was done: click again in a minute."
GONE = "This button no longer does anything. Run the command again."


@dataclass(frozen=True)
class Click:
    """One button click, as Slack delivered it."""

    user_id: str
    action_id: str
    value: str
    channel_id: str
    message_ts: str | None  # None on an ephemeral message: answer through response_url
    thread_root: str | None  # the thread the clicked message is in, or starts (an alert's)
    response_url: str | None
    trigger_id: str | None
    origin: str

    def answer(self, services: Services, thread_ts: str | None = None) -> ClickAnswer:
        return ClickAnswer(
            services.messenger,
            user_id=self.user_id,
            channel_id=self.channel_id,
            message_ts=self.message_ts,
            thread_ts=thread_ts,
            response_url=self.response_url,
        )


def register(routes: Routes, services: Services) -> None:
    pipeline = Pipeline(services)
    verbs = services.contexts.verbs

    def on_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        click = _click(body, origin_of(context))
        if click is None or click.action_id == LINK_ACTION:
            return  # a link button: Slack opened the URL; the app only acknowledges
        if not pipeline.submit(context, lambda: serve(click)):
            click.answer(services).tell(text_reply(BUSY, ephemeral=True))

    def serve(click: Click) -> None:
        try:
            if click.action_id in DECISION_ACTIONS:
                decide(click)
                return
            action = services.store.action(click.value)
            found = verbs.button(click.action_id)
            if action is None or found is None or action.verb != click.action_id:
                click.answer(services).tell(text_reply(GONE, ephemeral=True))
                return
            if action.expired():
                note = f"This button expired {fmt.when(action.expires_at)}. {GONE}"
                click.answer(services).tell(text_reply(note, ephemeral=True))
                return
            run(click, action, *found)
        except StoreError as exc:
            click.answer(services).tell(store_failure(exc))

    def decide(click: Click) -> None:
        choice = Choice(click.user_id, click.action_id, click.value, click.channel_id,
                        click.origin)  # fmt: skip
        decided = services.approvals.decide(choice)
        answer = click.answer(services)
        if decided.replace is not None:
            answer.replace(decided.replace)
        if decided.tell is not None:
            answer.tell(decided.tell)

    def run(click: Click, action: PendingAction, verb: Verb, button: Button) -> None:
        args = action.args
        cmd = stored_command(action, verb=verb.name)
        cmd = dataclasses.replace(cmd, typed=_typed(cmd))
        req = Request(cmd, click.user_id, click.channel_id, origin=click.origin, source=BUTTON,
                      page=PagePosition.from_args(args))  # fmt: skip
        # A button the bot put in a thread answers in it; one on a message of its own in the
        # channel (an alert) starts that message's thread.
        answer = click.answer(services, thread_ts=action.thread_ts or click.thread_root)
        if button.form:
            open_form(click, action, verb, req, answer)
            return
        # Next/Previous and Refresh show the same message anew; a stored ``in_place`` arg
        # says so of one button (Refresh under runs, where Runs under a list adds below).
        in_place = button.in_place or args.get("in_place") is True
        pipeline.handle(req, answer, in_place=in_place)

    def open_form(
        click: Click, action: PendingAction, verb: Verb, req: Request, answer: ClickAnswer
    ) -> None:
        if verb.form is None or pipeline.permit(req, answer) is None:
            return
        try:
            services.web.views_open(trigger_id=click.trigger_id or "", view=verb.form.build(action))
        except SlackApiError as exc:
            # trigger_id lives 3 s: a click that waited longer for a worker cannot open it.
            log.warning("views.open failed: %s", exc.response.get("error"))
            text = "The form could not open in time. Click Trigger again."
            answer.tell(text_reply(text, ephemeral=True))

    for action_id in (*verbs.action_ids(), *sorted(DECISION_ACTIONS), LINK_ACTION):
        routes.action(action_id, on_action)


def _click(body: dict[str, Any], origin: str) -> Click | None:
    acted = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if not acted.get("action_id") or not channel:
        return None
    ephemeral = bool(container.get("is_ephemeral"))
    message_ts = None if ephemeral else (container.get("message_ts") or message.get("ts"))
    return Click(
        user_id=str((body.get("user") or {}).get("id", "")),
        action_id=str(acted["action_id"]),
        value=str(acted.get("value", "")),
        channel_id=str(channel),
        message_ts=message_ts,
        thread_root=None if ephemeral else (message.get("thread_ts") or message_ts),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
        origin=origin,
    )


def _typed(cmd: Command) -> str:
    parts = [cmd.verb, cmd.deployment or "", cmd.dag_id or "", cmd.run_id or "", cmd.task_id or ""]
    return " ".join(p for p in parts if p) + " (button)"
