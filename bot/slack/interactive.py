"""Buttons and the trigger form: every click acked at once, the clicker authorised afresh.

A button's value is the id of an action the bot stored when it posted the button
(bot/core/buttons.py, bot/core/pending.py); the click is looked up, checked against the clicker's
own grants (anyone who sees a message can click its buttons), audited, and answered where it was
clicked. Confirm/Cancel/Approve/Reject are decided in bot/core/pending.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.airflow import AirflowClient
from bot.config import Config
from bot.core.audit import Audit, origin_of
from bot.core.buttons import seal
from bot.core.failures import denial_reply, store_failure
from bot.core.follower import Follower, follow_run
from bot.core.parser import Command, UsageError, parse_conf
from bot.core.pending import DECISION_ACTIONS, Click, PendingActions
from bot.core.permissions import Permissions
from bot.core.reply import Reply, code, section
from bot.core.workers import Workers
from bot.slack.posting import Poster, Thread, respond
from bot.slack.replay import once
from bot.store import NewAction, PendingAction, Store
from commands import Context
from commands import format as fmt
from commands.context import PagePosition

log = logging.getLogger(__name__)

VIEW_ACTIONS = ("page", "runs", "refresh", "pause", "unpause", "trigger_form", "clear")
ACTION_IDS = (*VIEW_ACTIONS, *sorted(DECISION_ACTIONS), "open_link")
TRIGGER_FORM = "trigger_form"
BUSY = ":hourglass: The bot is busy right now. Nothing was done: click again in a minute."
GONE = "This button no longer does anything. Run the command again."


class Interactive:
    def __init__(
        self,
        *,
        config: Config,
        clients: Mapping[str, AirflowClient],
        store: Store,
        poster: Poster,
        workers: Workers,
        permissions: Permissions,
        audit: Audit,
        pending: PendingActions,
        web_client: WebClient,
        follower: Follower,
    ) -> None:
        self._follower = follower
        self._config = config
        self._clients = clients
        self._store = store
        self._poster = poster
        self._workers = workers
        self._permissions = permissions
        self._audit = audit
        self._pending = pending
        self._web = web_client

    # -- buttons ---------------------------------------------------------------------------

    def on_action(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        click = _click(body)
        if click is None or click.action_id == "open_link":
            return  # a link button: Slack opened the URL; the app only acknowledges
        click = dataclasses.replace(click, origin=origin_of(context))
        if not self._workers.try_submit(once(self._store, context, lambda: self._serve(click))):
            self._tell(click, BUSY)

    def _serve(self, click: Click) -> None:
        try:
            if click.action_id in DECISION_ACTIONS:
                self._pending.on_click(click)
                return
            action = self._store.action(click.value)
            if action is None or action.verb != click.action_id:
                self._tell(click, GONE)
                return
            if action.expired():
                self._tell(click, f"This button expired {fmt.when(action.expires_at)}. {GONE}")
                return
            self._handlers()[click.action_id](click, action)
        except SQLAlchemyError as exc:
            self._tell_reply(click, store_failure(exc))

    def _handlers(self) -> dict[str, Callable[[Click, PendingAction], None]]:
        return {
            "page": self._page,
            "runs": self._runs,
            "refresh": self._refresh,
            "pause": self._write,
            "unpause": self._write,
            TRIGGER_FORM: self._open_form,
            "clear": self._write,
        }

    def _page(self, click: Click, action: PendingAction) -> None:
        args = action.args
        cmd = Command(verb="list", deployment=action.deployment, filter=args.get("filter"))
        ctx = self._allowed(click, cmd, page=PagePosition.from_args(args))
        if ctx is not None:
            self._show(click, action, self._audit.run(ctx, source="button"), in_place=True)

    def _runs(self, click: Click, action: PendingAction) -> None:
        cmd = Command(verb="status", deployment=action.deployment, dag_id=action.dag_id)
        ctx = self._allowed(click, cmd)
        if ctx is not None:
            reply = self._audit.run(ctx, source="button")
            # From a list it opens the runs below it; on a runs message it refreshes it.
            self._show(click, action, reply, in_place=_refreshes(action))

    def _refresh(self, click: Click, action: PendingAction) -> None:
        run_id = str(action.args.get("run_id") or "")
        cmd = Command(
            verb="status", deployment=action.deployment, dag_id=action.dag_id, run_id=run_id
        )
        ctx = self._allowed(click, cmd)
        if ctx is not None:
            self._show(click, action, self._audit.run(ctx, source="button"), in_place=True)

    def _write(self, click: Click, action: PendingAction) -> None:
        """A button that changes Airflow (pause, unpause, clear): through the deployment's
        confirm and approvers (bot/core/pending.py), exactly as the typed command would be."""
        run_id = str(action.args.get("run_id") or "") or None
        typed = "" if run_id else f"{action.verb} {action.deployment} {action.dag_id}"
        cmd = Command(verb=action.verb, deployment=action.deployment, dag_id=action.dag_id,
                      run_id=run_id, typed=typed)  # fmt: skip
        ctx = self._allowed(click, cmd)
        if ctx is None:
            return
        thread = Thread(click.channel_id, action.thread_ts, "") if action.thread_ts else None
        if self._pending.waits_for_click(cmd.verb, cmd.deployment):
            reply = self._pending.ask(
                cmd, user_id=click.user_id, channel_id=click.channel_id, thread=thread
            )
        else:
            reply = self._audit.run(ctx, source="button")
        self._show(click, action, reply, in_place=False)
        if thread is not None and reply.ok and reply.run_id:
            # Cleared tasks run again: report how the run ends this time.
            follow_run(self._follower, cmd, click.channel_id, thread, click.user_id,
                       reply.run_id)  # fmt: skip

    def _open_form(self, click: Click, action: PendingAction) -> None:
        cmd = Command(verb="trigger", deployment=action.deployment, dag_id=action.dag_id)
        if self._allowed(click, cmd) is None:
            return
        try:
            self._web.views_open(trigger_id=click.trigger_id or "", view=trigger_form(action))
        except SlackApiError as exc:
            # trigger_id lives 3 s: a click that waited longer for a worker cannot open it.
            log.warning("views.open failed: %s", exc.response.get("error"))
            self._tell(click, "The form could not open in time. Click Trigger again.")

    # -- the trigger form ------------------------------------------------------------------

    def on_submit(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        errors: dict[str, str] = {}
        conf: dict[str, Any] = {}
        conf_text = str(_field(values, "conf").get("value") or "").strip()
        if conf_text:
            try:
                conf = parse_conf(conf_text)
            except UsageError as err:
                # Beside the field: the problem and its example, without markdown (plain text).
                errors["conf"] = err.problem.replace("`", "")
        logical_date = None
        picked = _field(values, "logical_date").get("selected_date_time")
        if picked is not None:
            try:
                logical_date = datetime.fromtimestamp(int(picked), UTC)
            except (TypeError, ValueError, OverflowError):
                errors["logical_date"] = "Pick a date and a time, or leave both empty."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = str((body.get("user") or {}).get("id", ""))
        form_id = str(view.get("private_metadata", ""))
        origin = origin_of(context)

        def submit() -> None:
            self._submitted(user, form_id, logical_date, conf, origin)

        if not self._workers.try_submit(once(self._store, context, submit)):
            log.warning("busy: a trigger form from %s was dropped", user)
            action = self._store.action(form_id)
            if action is not None:
                self._ephemeral(action.channel_id, user, BUSY)

    def _submitted(
        self,
        user: str,
        form_id: str,
        logical_date: datetime | None,
        conf: dict[str, Any],
        origin: str = "slack",
    ) -> None:
        try:
            form = self._store.action(form_id)
            if form is None or form.verb != TRIGGER_FORM:
                log.warning("a trigger form named no stored action")
                return
            if form.expired():
                # The form outlived the button that opened it: nothing is triggered.
                log.info("an expired trigger form from %s was refused", user)
                note = (
                    f":hourglass: This form expired {fmt.when(form.expires_at)}: nothing was "
                    "triggered. Run the command again."
                )
                self._ephemeral(form.channel_id, user, note)
                return
            cmd = Command(verb="trigger", deployment=form.deployment, dag_id=form.dag_id,
                          logical_date=logical_date, conf=conf,
                          typed=f"trigger {form.deployment} {form.dag_id} (form)")  # fmt: skip
            click = Click(user_id=user, action_id=TRIGGER_FORM, value=form_id,
                          channel_id=form.channel_id, message_ts=None,
                          thread_ts=form.thread_ts, response_url=None,
                          origin=origin)  # fmt: skip
            if self._allowed(click, cmd) is None:
                return
            thread = Thread(form.channel_id, form.thread_ts, "") if form.thread_ts else None
            if self._pending.waits_for_click("trigger", form.deployment):
                reply = self._pending.ask(
                    cmd, user_id=user, channel_id=form.channel_id, thread=thread
                )
            else:
                action = self._new_trigger(cmd, user, form)
                reply = self._pending.run_now(action, actor=user, origin=origin)
                self._pending.follow_if_started(action, reply)
            self._show(click, form, reply, in_place=False)
        except SQLAlchemyError as exc:
            log.error("state store failure on a trigger form: %s", type(exc).__name__)
            self._ephemeral_reply(form_id, user, store_failure(exc))

    def _new_trigger(self, cmd: Command, user: str, form: PendingAction) -> PendingAction:
        """A stored action of its own, already claimed: its id names the DAG run."""
        [action_id] = self._store.add_actions(
            [
                NewAction(
                    verb="trigger",
                    state="running",
                    user_id=user,
                    channel_id=form.channel_id,
                    thread_ts=form.thread_ts,
                    deployment=cmd.deployment,
                    dag_id=cmd.dag_id,
                    logical_date=cmd.logical_date,
                    conf=cmd.conf or None,
                    args={"typed": cmd.typed},
                    ttl_seconds=60,
                )
            ]
        )
        action = self._store.action(action_id)
        assert action is not None
        return action

    # -- shared ----------------------------------------------------------------------------

    def _allowed(
        self, click: Click, cmd: Command, *, page: PagePosition | None = None
    ) -> Context | None:
        """The clicker's context when their own grants allow this; else they are told why."""
        if not cmd.typed:
            cmd = dataclasses.replace(cmd, typed=_typed(cmd))
        ctx = Context(
            command=cmd,
            user_id=click.user_id,
            channel_id=click.channel_id,
            config=self._config,
            access=self._permissions.access_for(click.user_id),
            client=self._clients.get(cmd.deployment or ""),
            page=page or PagePosition(),
            origin=click.origin,
        )
        decision = ctx.access.check(
            channel_id=click.channel_id,
            verb=cmd.verb,
            deployment=cmd.deployment,
            dag_id=cmd.dag_id,
        )
        if decision.allowed:
            return ctx
        self._audit.denied(ctx, decision.reason, source="button")
        self._tell_reply(click, denial_reply(decision.reason))
        return None

    def _show(self, click: Click, action: PendingAction, reply: Reply, *, in_place: bool) -> None:
        """In place of the clicked message, or as a new reply in its thread, or privately."""
        thread_ts = action.thread_ts
        sealed = seal(reply, self._store, user_id=click.user_id, channel_id=click.channel_id,
                      thread_ts=thread_ts)  # fmt: skip
        try:
            if in_place and click.message_ts:
                self._poster.replace(click.channel_id, click.message_ts, sealed)
            elif thread_ts:
                self._poster.reply(Thread(click.channel_id, thread_ts, ""), sealed)
            elif click.response_url:
                respond(click.response_url, sealed, replace=in_place)
            else:
                self._poster.ephemeral(click.channel_id, click.user_id, sealed)
        except SlackApiError as exc:
            log.warning("could not answer a click: %s", exc.response.get("error"))
            if click.response_url:
                respond(click.response_url, sealed)

    def _tell(self, click: Click, text: str) -> None:
        self._tell_reply(click, Reply(text=text, blocks=[section(text)], ephemeral=True))

    def _tell_reply(self, click: Click, reply: Reply) -> None:
        if click.response_url:
            respond(click.response_url, reply)
            return
        try:
            self._poster.ephemeral(click.channel_id, click.user_id, reply)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", click.user_id, exc.response.get("error"))

    def _ephemeral(self, channel: str, user: str, text: str) -> None:
        try:
            self._poster.ephemeral(channel, user, Reply(text=text, blocks=[section(text)]))
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error"))

    def _ephemeral_reply(self, form_id: str, user: str, reply: Reply) -> None:
        try:
            action = self._store.action(form_id)
        except SQLAlchemyError:
            return
        if action is not None:
            self._ephemeral(action.channel_id, user, reply.text)


def trigger_form(action: PendingAction) -> dict[str, Any]:
    """The modal a Trigger button opens; its errors are shown beside the fields (on_submit)."""
    dag, dep = action.dag_id or "", action.deployment or ""
    return {
        "type": "modal",
        "callback_id": TRIGGER_FORM,
        "private_metadata": action.id,
        "title": {"type": "plain_text", "text": "Trigger a DAG run"},
        "submit": {"type": "plain_text", "text": "Trigger"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Trigger {code(dag)} on {code(dep)}."),
            {
                "type": "input",
                "block_id": "logical_date",
                "optional": True,
                "label": {"type": "plain_text", "text": "Logical date"},
                "hint": {"type": "plain_text", "text": "Leave empty to let Airflow choose."},
                "element": {"type": "datetimepicker", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "conf",
                "optional": True,
                "label": {"type": "plain_text", "text": "Conf (a JSON object)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "placeholder": {"type": "plain_text", "text": '{"full_refresh": true}'},
                },
            },
        ],
    }


def _field(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id) or {}
    field = block.get("value") or {}
    return field if isinstance(field, dict) else {}


def _click(body: dict[str, Any]) -> Click | None:
    acted = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if not acted.get("action_id") or not channel:
        return None
    ephemeral = bool(container.get("is_ephemeral"))
    return Click(
        user_id=str((body.get("user") or {}).get("id", "")),
        action_id=str(acted["action_id"]),
        value=str(acted.get("value", "")),
        channel_id=str(channel),
        message_ts=None if ephemeral else (container.get("message_ts") or message.get("ts")),
        thread_ts=message.get("thread_ts"),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )


def _refreshes(action: PendingAction) -> bool:
    # The Refresh button on a runs message shows the same runs again, in place; a Runs button
    # on a list adds them below it.
    return action.args.get("in_place") is True


def _typed(cmd: Command) -> str:
    parts = [cmd.verb, cmd.deployment or "", cmd.dag_id or "", cmd.run_id or ""]
    return " ".join(p for p in parts if p) + " (button)"
