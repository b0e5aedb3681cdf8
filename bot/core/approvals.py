"""Actions that wait for a click: confirmations and four-eyes approvals.

Every verb that changes something in Airflow (``Verb.writes`` in the registry: trigger, pause,
unpause, clear, and any added later) goes through here. On a deployment with ``confirm: true`` the
action is posted with Confirm and Cancel; with ``approvers:`` it waits for Approve by an approver
other than the requester. Nothing reaches Airflow before that click, and the prompt shows
everything that will run (the whole conf), or the action is refused. When the click lands, the
requester's own grants are checked again. The action itself stays in the store; its buttons carry
only its id.

Every click is decided by one atomic state change in the store (see ``Store.claim_action``):
a double click, two people clicking at once, or Slack delivering a click twice acts once. A
trigger's ``dag_run_id`` is derived from the action's id too, so that even a second process
acting on the same action would be refused by Airflow itself.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.config import Deployment
from bot.core import format as fmt
from bot.core.audit import SLACK, Audit
from bot.core.context import Context, Contexts
from bot.core.follower import Follower, follow_run
from bot.core.messenger import Messenger, Thread
from bot.core.parser import Command, stored_command
from bot.core.permissions import GroupLookupFailed, Groups
from bot.core.prompts import (
    AWAITING_APPROVAL,
    AWAITING_CONFIRM,
    CANCELLED,
    DONE,
    EXPIRED,
    FAILED,
    REJECTED,
    RUNNING,
    conf_sections,
    prompt,
    state_words,
    unshowable,
)
from bot.core.reply import Reply, code, context, text_reply
from bot.core.runner import run_command
from bot.store import ActionDecisions, ActionIssuer, NewAction, PendingAction

log = logging.getLogger(__name__)

# Click -> (the state it acts on, the state it leads to).
TRANSITIONS = {
    "confirm": (AWAITING_CONFIRM, RUNNING),
    "cancel": (AWAITING_CONFIRM, CANCELLED),
    "approve": (AWAITING_APPROVAL, RUNNING),
    "reject": (AWAITING_APPROVAL, REJECTED),
}
DECISION_ACTIONS = frozenset(TRANSITIONS)


@dataclass(frozen=True)
class Choice:
    """One click on Confirm, Cancel, Approve or Reject."""

    user_id: str
    decision: str  # a key of TRANSITIONS
    action_id: str  # the stored action the button names
    channel_id: str
    origin: str = SLACK  # or "console" (bot/slack/origin.py): for the audit trail


@dataclass(frozen=True)
class Decided:
    """What the clicker sees: ``replace`` takes the prompt's place, ``tell`` is theirs alone."""

    replace: Reply | None = None
    tell: Reply | None = None


def _told(text: str) -> Decided:
    return Decided(tell=text_reply(text, ephemeral=True, ok=False))


class ApprovalStore(ActionDecisions, ActionIssuer, Protocol):
    """What the approvals keep in the store: the prompts' actions, and the clicks on them."""


class Approvals:
    def __init__(
        self,
        *,
        contexts: Contexts,
        store: ApprovalStore,
        messenger: Messenger,
        groups: Groups,
        audit: Audit,
        follower: Follower,
    ) -> None:
        self._contexts = contexts
        self._config = contexts.config
        self._verbs = contexts.verbs
        self._store = store
        self._messenger = messenger
        self._groups = groups
        self._audit = audit
        self._follower = follower

    def waits_for_click(self, verb: str, deployment: str | None) -> bool:
        """Every verb that changes Airflow waits for the deployment's confirm or approvers."""
        dep = self._config.deployments.get(deployment or "")
        writes = verb in self._verbs and self._verbs[verb].writes
        return writes and dep is not None and (dep.confirm or dep.needs_approval)

    # -- asking ----------------------------------------------------------------------------

    def ask(self, cmd: Command, *, user_id: str, channel_id: str, thread: Thread | None) -> Reply:
        """Keep the action and return the message asking for its confirmation or approval."""
        dep = self._config.deployments[cmd.deployment or ""]
        if conf_sections(cmd.conf) is None:
            # Refused before anything is kept: nobody could see what they would approve.
            return unshowable()
        state = AWAITING_APPROVAL if dep.needs_approval else AWAITING_CONFIRM
        args = {
            "header": thread.header if thread else "",
            "typed": cmd.typed,
            **({"run_id": cmd.run_id} if cmd.run_id else {}),
        }
        action = self._keep(cmd, state=state, user_id=user_id, channel_id=channel_id,
                            thread=thread, args=args, ttl_seconds=dep.confirm_timeout)  # fmt: skip
        return prompt(action, dep, self._describe(action))

    # -- deciding --------------------------------------------------------------------------

    def decide(self, choice: Choice) -> Decided:
        """Carry out a click on a prompt's button, once, if this clicker may make it."""
        action = self._store.action(choice.action_id)
        if action is None or not self.waits_for_click(action.verb, action.deployment):
            return _told("This button no longer does anything. Run the command again.")
        verb_text = f"{choice.decision} {action.id}"
        audit_ctx = self._context(action, choice.user_id, verb_text=verb_text, origin=choice.origin)
        refusal = self._refusal(choice, action)
        if refusal:
            self._audit.denied(audit_ctx, refusal, source="button")
            return _told(f":no_entry: {refusal}")
        from_state, to_state = TRANSITIONS[choice.decision]
        now = datetime.now(UTC)
        decided_by = {"confirm": "confirmed_by", "approve": "approved_by"}.get(choice.decision)
        changes = {"decided_at": now, **({decided_by: choice.user_id} if decided_by else {})}
        won = self._store.claim_action(
            action.id, from_state=from_state, to_state=to_state, **changes
        )
        if won is None:
            return self._lost(action, from_state)
        if to_state != RUNNING:
            word = "Cancelled" if to_state == CANCELLED else "Rejected"
            entry = self._audit.begin(audit_ctx, source="button")
            outcome = f"{word.lower()} by <@{choice.user_id}>"
            reply = text_reply(f"{word}: nothing was done.", ok=False)
            reply = dataclasses.replace(reply, outcome=outcome)
            self._audit.end(entry, audit_ctx, reply)
            return self._finish(won, reply, f"{word} by <@{choice.user_id}> at {fmt.when(now)}")
        return self._act(won, audit_ctx)

    def run_once(
        self, cmd: Command, *, user_id: str, channel_id: str, thread: Thread | None, origin: str
    ) -> Reply:
        """Carry out ``cmd`` at once under a stored action of its own, already claimed: the
        action's id names the run (``Verb.names_run``)."""
        action = self._keep(cmd, state=RUNNING, user_id=user_id, channel_id=channel_id,
                            thread=thread, args={"typed": cmd.typed}, ttl_seconds=60)  # fmt: skip
        return self.run_now(action, actor=user_id, origin=origin)

    def _keep(
        self,
        cmd: Command,
        *,
        state: str,
        user_id: str,
        channel_id: str,
        thread: Thread | None,
        args: dict[str, Any],
        ttl_seconds: float,
    ) -> PendingAction:
        """``cmd`` kept in the store as an action in ``state``; its id is what buttons carry."""
        [action_id] = self._store.add_actions(
            [
                NewAction(
                    verb=cmd.verb,
                    state=state,
                    user_id=user_id,
                    channel_id=channel_id,
                    thread_ts=thread.ts if thread else None,
                    deployment=cmd.deployment,
                    dag_id=cmd.dag_id,
                    logical_date=cmd.logical_date,
                    conf=cmd.conf or None,
                    args=args,
                    ttl_seconds=ttl_seconds,
                )
            ]
        )
        action = self._store.action(action_id)
        assert action is not None
        return action

    def run_now(self, action: PendingAction, *, actor: str, origin: str = SLACK) -> Reply:
        """Carry out an action that needs no click (claimed by the caller); audited."""
        ctx = self._context(action, actor, verb_text=action.args.get("typed", ""), origin=origin)
        entry = self._audit.begin(ctx, source="button")
        reply = self._execute(action)
        self._audit.end(entry, ctx, reply)
        return reply

    def _act(self, action: PendingAction, audit_ctx: Context) -> Decided:
        who = f"Requested by <@{action.user_id}> at {fmt.when(action.created_at)}"
        if action.approved_by:
            who += f" · approved by <@{action.approved_by}> at {fmt.when(action.decided_at)}"
        elif action.confirmed_by:
            who += f" · confirmed by <@{action.confirmed_by}> at {fmt.when(action.decided_at)}"
        # The requester's grants may have changed since they asked: an approval lends no rights.
        requester = self._context(action, action.user_id, verb_text=action.args.get("typed", ""))
        decision = requester.access.check(
            channel_id=action.channel_id,
            verb=action.verb,
            deployment=action.deployment,
            dag_id=action.dag_id,
        )
        if not decision.allowed:
            return self._refuse_requester(action, requester, decision.reason, who)
        entry = self._audit.begin(audit_ctx, source="button")
        reply = self._execute(action)
        self._audit.end(entry, audit_ctx, reply)
        if self._verbs[action.verb].follows_run and reply.ok and reply.run_id and action.thread_ts:
            thread = Thread(
                action.channel_id, action.thread_ts, str(action.args.get("header") or "")
            )
            follow_run(self._follower, requester.command, thread, action.user_id, reply.run_id)
        return self._finish(action, reply, who)

    def _refuse_requester(
        self, action: PendingAction, requester: Context, reason: str, who: str
    ) -> Decided:
        """The requester lost the grant while the action waited: nothing is done, and the
        thread and the audit trail say why."""
        self._audit.denied(requester, f"the requester may no longer do this: {reason}",
                           source="button")  # fmt: skip
        outcome = "denied: the requester may no longer do this"
        self._store.update_action(
            action.id, state=FAILED, finished_at=datetime.now(UTC), outcome=outcome
        )
        text = (
            f":no_entry: Nothing was done: <@{action.user_id}> may no longer "
            f"`{action.verb}` this. Their grants now say: {reason}"
        )
        reply = text_reply(text, ok=False, outcome=outcome)
        return self._finish(action, reply, who)

    def _execute(self, action: PendingAction) -> Reply:
        ctx = self._context(action, action.user_id, verb_text=action.args.get("typed", ""))
        if self._verbs[action.verb].names_run:
            # Derived from the action: Airflow refuses a second run with this id, whoever sends it.
            ctx = dataclasses.replace(
                ctx, run_id=f"slack__{action.id}", approved_by=action.approved_by
            )
        reply = run_command(ctx)
        self._store.update_action(
            action.id,
            state=DONE if reply.ok else FAILED,
            finished_at=datetime.now(UTC),
            outcome=reply.outcome,
            run_id=reply.run_id,
        )
        return reply

    def _finish(self, action: PendingAction, reply: Reply, who: str) -> Decided:
        """The buttons give way to what happened, and the parent message's summary says it."""
        final = Reply(
            text=f"{who}\n{reply.text}",
            blocks=[*reply.blocks, context(who)],
            ok=reply.ok,
            outcome=reply.outcome,
        )
        header = str(action.args.get("header") or "")
        if header and action.thread_ts:
            self._messenger.close(Thread(action.channel_id, action.thread_ts, header), reply)
        return Decided(replace=final)

    def _lost(self, action: PendingAction, expected: str) -> Decided:
        """The click changed nothing: say why, only to the clicker."""
        current = self._store.action(action.id) or action
        if current.state == expected and current.expired():
            self._store.update_action(action.id, state=EXPIRED)
            note = (
                f":hourglass: This expired at {fmt.when(current.expires_at)}: nothing was done. "
                "Run the command again."
            )
            expired = text_reply(note, ok=False)
            return dataclasses.replace(_told(note), replace=expired)
        if current.state in (AWAITING_CONFIRM, AWAITING_APPROVAL):
            # This button belongs to the other step (Approve on a confirmation, or vice versa).
            return _told("That button is not for this step. Nothing was done.")
        return _told(f"Already {state_words(current)}. Nothing more was done.")

    def _refusal(self, choice: Choice, action: PendingAction) -> str | None:
        """Why this clicker may not make this click, or None. Anyone in the channel can click."""
        requester = choice.user_id == action.user_id
        if choice.decision in ("approve", "reject"):
            dep = self._config.deployments.get(action.deployment or "")
            if choice.decision == "reject" and requester:
                return None  # withdrawing one's own request is always allowed
            if choice.decision == "approve" and requester:
                return "You cannot approve your own request: another approver must."
            if dep is None or not self._is_approver(choice.user_id, dep):
                where = code(action.deployment or "")
                return f"Only an approver for {where} may {choice.decision} this."
            return None
        if choice.decision == "cancel" and requester:
            return None
        decision = self._contexts.permissions.access_for(choice.user_id).check(
            channel_id=choice.channel_id,
            verb=action.verb,
            deployment=action.deployment,
            dag_id=action.dag_id,
        )
        return None if decision.allowed else decision.reason

    def _is_approver(self, user_id: str, dep: Deployment) -> bool:
        if user_id in dep.approvers:
            return True
        for group in sorted(dep.approver_groups):
            try:
                if self._groups.is_member(user_id, group):
                    return True
            except GroupLookupFailed:
                continue  # fail closed: an unreadable group approves nobody
        return False

    def _context(
        self, action: PendingAction, user_id: str, *, verb_text: str, origin: str = SLACK
    ) -> Context:
        return self._contexts.of(
            stored_command(action, typed=verb_text),
            user_id=user_id,
            channel_id=action.channel_id,
            origin=origin,
        )

    def _describe(self, action: PendingAction) -> str:
        """What will be done, as the prompt says it."""
        cmd = stored_command(action)
        describe = self._verbs[action.verb].describe
        what = describe(cmd) if describe else f"{action.verb} {code(action.dag_id or '')}"
        if action.logical_date:
            what += f" for {fmt.when(action.logical_date)}"
        return what
