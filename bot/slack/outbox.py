"""The core's Messenger on Slack's Web API, through the outbox: nothing the bot owes is lost.

Every message is recorded in the store (bot/store/outbox.py) before it is sent, then tried at
once when nothing earlier in its thread is left to send. What Slack does not take (its 429,
5xx, a timeout, the network) is tried again by a background loop, with backoff or Slack's
``Retry-After``, in order within its thread, for up to ``OUTBOX_RETRY_MINUTES``; then it is
marked undeliverable and logged once. What cannot heal (``channel_not_found``,
``not_in_channel``, ``is_archived``) is not retried: the caller hears ``Undelivered`` and falls
back as before (``response_url``, the invite hint).

A message not sent yet has an id of its own in place of Slack's ts (``outbox:<key>``): a reply
in its thread, or an update of it, waits behind it and is given the real ts when it goes.
While the store itself is down, messages are sent straight, as before there was an outbox.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta

from slack_sdk import WebClient

from bot.core.loop import Loop
from bot.core.messenger import Thread, Undelivered
from bot.core.reply import Reply, context
from bot.slack import delivery
from bot.slack.delivery import PLACEHOLDER, Outcome, Refused, Retry, Sent, destination
from bot.slack.journal import current_scope
from bot.store import Store, StoreError, clock
from bot.store.leases import ProcessOwner
from bot.store.outbox import FAILED, SENT, OutboxRow

log = logging.getLogger(__name__)
# slack_sdk logs each failed call at ERROR; the outbox says what it does about it instead.
_sdk_log = logging.getLogger(f"{__name__}.sdk")
_sdk_log.setLevel(logging.CRITICAL)

INVITE_HINT = (
    "I can't post in this channel, so only you see this. "
    "`/invite` me to get replies in a thread everyone can follow."
)
LEASE_S = 60.0  # a try holds its message this long; a process that died lets it go then
TICK_S = 1.0  # how often the loop looks for messages due, when nothing wakes it sooner
MAX_BACKOFF_S = 60.0
MIN_RETRY_S = 0.5  # even when Slack says Retry-After: 0
BATCH = 10  # messages leased at once: their tries, 10 s each at worst, fit in one lease
BATCHES_PER_TICK = 50  # then the loop sleeps a tick


class SlackMessenger:
    """Messenger (bot/core/messenger.py) with an outbox, plus ``respond`` for response URLs."""

    def __init__(self, store: Store, client: WebClient, *, retry_minutes: float = 60.0) -> None:
        # Its own client, without slack_sdk's retry handlers: the outbox decides when to retry,
        # and a try never holds a worker thread through a Retry-After.
        self._client = WebClient(
            token=client.token, base_url=client.base_url, timeout=client.timeout, logger=_sdk_log
        )
        self._client.retry_handlers.clear()
        self._store = store
        self._retry = timedelta(minutes=retry_minutes)
        # A stop still tries what is due once more, before the process goes.
        self._loop = Loop("chatops-outbox", self._round, interval=TICK_S, first_wait=TICK_S,
                          what="outbox loop", on_store_error=self._store_failed,
                          unexpected="outbox loop: unexpected error", final_round=True,
                          join_seconds=5)  # fmt: skip
        self._said_at = -60.0
        self.tick_hooks: list[Callable[[], object]] = []  # also run by the loop (hand-overs)
        self._owner = ProcessOwner()

    @property
    def owner(self) -> str:
        # Read each time: gunicorn forks the process that built this object, and each process
        # is an owner of its own (bot/store/leases.py).
        return self._owner()

    # -- Messenger ----------------------------------------------------------------------------

    def open_thread(self, channel: str, header: str) -> Thread:
        ts = self._post(channel, {"channel": channel, "text": header})
        return Thread(channel=channel, ts=ts, header=header)

    def reply(self, thread: Thread, reply: Reply, key: str | None = None) -> str:
        payload = {
            "channel": thread.channel,
            "thread_ts": thread.ts,
            "text": reply.text,
            "blocks": list(reply.blocks),
        }
        return self._post(thread.channel, payload, key=key, order=f"{thread.channel}/{thread.ts}")

    def replace(self, channel: str, ts: str, reply: Reply) -> None:
        payload = {"channel": channel, "ts": ts, "text": reply.text, "blocks": list(reply.blocks)}
        self._record("update", self._order_of(channel, ts), payload)

    def close(self, thread: Thread, reply: Reply) -> None:
        mark = (
            ":hourglass_flowing_sand:"
            if reply.waiting
            else (":white_check_mark:" if reply.ok else ":x:")
        )
        outcome = reply.outcome or ("done" if reply.ok else "failed")
        payload = {
            "channel": thread.channel,
            "ts": thread.ts,
            "text": f"{thread.header} {mark} {outcome}",
        }
        try:
            self._record("update", self._order_of(thread.channel, thread.ts), payload)
        except Undelivered as exc:
            # The answer is in the thread already; a stale summary is worth a log line only.
            log.warning("could not update the parent message: %s", exc.error)

    def post(self, channel: str, text: str) -> None:
        self._post(channel, {"channel": channel, "text": text})

    def send(self, channel: str, reply: Reply, key: str | None = None) -> str:
        payload = {"channel": channel, "text": reply.text, "blocks": list(reply.blocks)}
        return self._post(channel, payload, key=key)

    def ephemeral(self, channel: str, user: str, reply: Reply) -> None:
        payload = {
            "channel": channel,
            "user": user,
            "text": reply.text,
            "blocks": list(reply.blocks),
        }
        self._record("ephemeral", f"{channel}/to:{user}", payload)

    def respond(
        self, response_url: str, reply: Reply, *, invite_hint: bool = False, replace: bool = False
    ) -> None:
        """Answer through a request's ``response_url`` (5 uses, 30 minutes); ``replace``
        rewrites the message whose button was clicked instead of adding one."""
        blocks = list(reply.blocks) + ([context(INVITE_HINT)] if invite_hint else [])
        payload = {"url": response_url, "text": reply.text, "blocks": blocks, "replace": replace}
        try:
            self._record("respond", f"url:{response_url[-40:]}", payload)
        except Undelivered as exc:
            log.warning("response_url refused the answer: %s", exc.error)

    # -- recording and trying -----------------------------------------------------------------

    def _post(
        self,
        channel: str,
        payload: Mapping[str, object],
        *,
        key: str | None = None,
        order: str | None = None,
    ) -> str:
        key = key or _new_key()
        # A new top-level message is its own thread: its replies and updates wait behind it.
        order = order or f"{channel}/{PLACEHOLDER}{key}"
        row = self._record("post", order, payload, key=key)
        return row.ts or f"{PLACEHOLDER}{row.key}"

    def _record(
        self, kind: str, order: str, payload: Mapping[str, object], *, key: str | None = None
    ) -> OutboxRow:
        """Record the message and try it now if it is first in its thread. Raises Undelivered
        only for what cannot heal, tried now."""
        scope = current_scope()
        key = key or _new_key()
        if scope is not None and scope.muted():
            # Handed over to another process (bot/slack/journal.py), which says it all.
            return _unrecorded(kind, order, payload, key)
        try:
            row, now = self._store.add_message(
                kind,
                order,
                payload,
                owner=self.owner,
                give_up_at=clock.now() + self._retry,
                lease_seconds=LEASE_S,
                key=key,
            )
        except StoreError as exc:
            log.warning("the outbox could not record a message (%s): sent without it", exc.kind)
            return self._straight(kind, order, payload, key)
        if not now:
            if row.state == FAILED:  # recorded under this key before, and refused for good
                raise Undelivered(row.error or "failed")
            self._loop.wake()  # behind another of its thread: the loop sends it in turn
            return row
        outcome = delivery.send(self._client, row, self._resolve)
        self._settle(row, outcome)
        if isinstance(outcome, Refused):
            raise Undelivered(outcome.error)
        return dataclasses.replace(row, ts=outcome.ts) if isinstance(outcome, Sent) else row

    def _straight(
        self, kind: str, order: str, payload: Mapping[str, object], key: str
    ) -> OutboxRow:
        row = _unrecorded(kind, order, payload, key)
        outcome = delivery.send(self._client, row, self._resolve)
        if isinstance(outcome, Sent):
            return dataclasses.replace(row, ts=outcome.ts)
        raise Undelivered(outcome.error)

    def _settle(self, row: OutboxRow, outcome: Outcome) -> None:
        """Store what came of a try of ``row`` (leased to this process)."""
        try:
            if isinstance(outcome, Sent):
                self._store.message_sent(row.id, self.owner, outcome.ts)
            elif isinstance(outcome, Refused):
                log.warning("Slack refused a message to %s: %s", destination(row), outcome.error)
                self._store.message_failed(row.id, self.owner, outcome.error)
            else:
                at = clock.now() + timedelta(seconds=_delay(row.attempts, outcome))
                if at > row.give_up_at:
                    log.warning(
                        "a message to %s is undeliverable: Slack did not take it in "
                        "%s minutes (%s)",
                        destination(row),
                        _minutes(row),
                        outcome.error,
                    )
                    self._store.message_failed(row.id, self.owner, f"gave_up:{outcome.error}")
                else:
                    log.info("Slack did not take a message to %s (%s): tried again at %s",
                             destination(row), outcome.error, f"{at:%H:%M:%S}")  # fmt: skip
                    self._store.retry_message(
                        row.id, self.owner, at=at, error=outcome.error, unknown=outcome.unknown
                    )
        except StoreError as exc:
            # Its lease lapses and another try looks it up first: not lost, not sent twice.
            log.warning("the outbox could not record a try (%s)", exc.kind)
        # What waits behind it in its thread may go now (or when its retry is due).
        self._loop.wake()

    def _order_of(self, channel: str, ts: str) -> str:
        """An update waits behind the message it updates, and with it, its thread."""
        if ts.startswith(PLACEHOLDER):
            try:
                target = self._store.message_by_key(ts[len(PLACEHOLDER) :])
            except StoreError:
                target = None
            if target is not None:
                return target.order_key
        return f"{channel}/{ts}"

    def _resolve(self, ts: str) -> str | None:
        try:
            row = self._store.message_by_key(ts[len(PLACEHOLDER) :])
        except StoreError:
            raise delivery.NotYet(ts) from None  # the store will say once it is back
        if row is None or row.state == FAILED:
            return None
        if row.state != SENT:
            raise delivery.NotYet(ts)
        return row.ts

    # -- the background loop ------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Try the messages due now, in order within each thread; returns how many. A thread's
        next message, due once this one is sent, goes in the next batch."""
        tried = 0
        for _ in range(BATCHES_PER_TICK):
            rows = self._store.take_due_messages(self.owner, lease_seconds=LEASE_S, limit=BATCH)
            for row in rows:
                # Tries of the batch before it may have taken long (Slack slow to answer): a
                # lease that lapsed meanwhile may be another process's now.
                if self._store.renew_message_lease(row.id, self.owner, lease_seconds=LEASE_S):
                    self._settle(row, delivery.send(self._client, row, self._resolve))
            tried += len(rows)
            if not rows:
                break
        return tried

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()  # within Heroku's 30 s, after the 20 s drain

    def _round(self) -> None:
        # Each step runs whatever the one before did (the store failing for one, say).
        for step in (self.deliver_due, *self.tick_hooks):
            self._loop.guarded(step)

    def _store_failed(self, exc: StoreError) -> None:
        if time.monotonic() - self._said_at >= 60:  # once a minute while it lasts
            self._said_at = time.monotonic()
            log.warning("outbox loop: the state store failed: %s", exc.kind)


def _new_key() -> str:
    """A message's key: made from the request a worker is carrying out and the message's place
    among its messages, so that the request carried on elsewhere says it once; else new."""
    scope = current_scope()
    return scope.next_key() if scope is not None else uuid.uuid4().hex


def _unrecorded(kind: str, order: str, payload: Mapping[str, object], key: str) -> OutboxRow:
    now = clock.now()
    return OutboxRow(
        id=0,
        kind=kind,
        order_key=order,
        payload=dict(payload),
        state="sending",
        unknown=False,
        attempts=0,
        created_at=now,
        give_up_at=now,
        key=key,
    )


def _delay(attempts: int, outcome: Retry) -> float:
    if outcome.after is not None:
        return max(MIN_RETRY_S, outcome.after)
    # 1, 2, 4 ... 60 s, jittered so that processes retrying after one outage spread out.
    return min(MAX_BACKOFF_S, 2.0**attempts) * random.uniform(0.8, 1.2)  # noqa: S311


def _minutes(row: OutboxRow) -> int:
    return round((row.give_up_at - row.created_at).total_seconds() / 60)
