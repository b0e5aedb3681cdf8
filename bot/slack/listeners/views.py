"""Form submissions (Slack's ``view_submission``): a verb's form, e.g. trigger's, read by the
verb itself (``Verb.form``), errors shown beside the fields in the ack, the rest through the
pipeline like a click on the button that opened the form."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.core import format as fmt
from bot.core.failures import store_failure
from bot.core.parser import stored_command
from bot.core.reply import text_reply
from bot.core.verbs import Form, Verb
from bot.slack.answers import ClickAnswer
from bot.slack.listeners.actions import BUSY
from bot.slack.origin import origin_of
from bot.slack.pipeline import BUTTON, Pipeline, Request
from bot.slack.routes import Routes
from bot.slack.services import Services
from bot.store import StoreError

log = logging.getLogger(__name__)


def register(routes: Routes, services: Services) -> None:
    pipeline = Pipeline(services)
    store = services.store

    def on_submit(verb: Verb, form: Form) -> Any:
        def listener(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
            view = body.get("view") or {}
            values = (view.get("state") or {}).get("values") or {}
            fields, errors = form.read(values)
            if errors:
                ack(response_action="errors", errors=errors)
                return
            ack()
            user = str((body.get("user") or {}).get("id", ""))
            form_id = str(view.get("private_metadata", ""))
            origin = origin_of(context)

            def submit() -> None:
                submitted(verb, form, user, form_id, fields, origin)

            if not pipeline.submit(context, submit):
                log.warning("busy: a %s form from %s was dropped", verb.name, user)
                tell(form_id, user, BUSY)

        return listener

    def submitted(
        verb: Verb, form: Form, user: str, form_id: str, fields: dict[str, Any], origin: str
    ) -> None:
        try:
            stored = store.action(form_id)
            if stored is None or stored.verb != form.callback_id:
                log.warning("a %s form named no stored action", verb.name)
                return
            answer = ClickAnswer(services.messenger, user_id=user, channel_id=stored.channel_id,
                                 thread_ts=stored.thread_ts)  # fmt: skip
            if stored.expired():
                # The form outlived the button that opened it: nothing is done.
                log.info("an expired %s form from %s was refused", verb.name, user)
                note = (
                    f":hourglass: This form expired {fmt.when(stored.expires_at)}: nothing was "
                    "triggered. Run the command again."
                )
                answer.tell(text_reply(note))
                return
            cmd = stored_command(stored, verb=verb.name)
            if isinstance(fields.get("conf"), dict) and isinstance(stored.args.get("conf"), dict):
                # What the button stored (the task a form answers) comes with the form's fields.
                fields = {**fields, "conf": {**stored.args["conf"], **fields["conf"]}}
            typed = f"{verb.name} {stored.deployment} {stored.dag_id} (form)"
            cmd = dataclasses.replace(cmd, typed=typed, **fields)
            req = Request(cmd, user, stored.channel_id, origin=origin, source=BUTTON)
            pipeline.handle(req, answer, own_run_id=True)
        except StoreError as exc:
            log.error("state store failure on a %s form: %s", verb.name, exc.kind)
            tell(form_id, user, store_failure(exc).text)

    def tell(form_id: str, user: str, text: str) -> None:
        try:
            stored = store.action(form_id)
        except StoreError:
            return
        if stored is not None:
            ClickAnswer(services.messenger, user_id=user,
                        channel_id=stored.channel_id).tell(text_reply(text))  # fmt: skip

    for verb, form in services.contexts.verbs.forms():
        routes.view(form.callback_id, on_submit(verb, form))
