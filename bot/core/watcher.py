"""Watching Airflow for the channels that subscribe: runs that ended, whoever started them.

One watch per deployment, whatever the number of subscriptions and DAGs: the process holding
the deployment's lease in the store (any process may take it once it lapses, within two
intervals of its holder dying) asks, every interval, for the runs of all DAGs that ended since
its watermark: one call, two when many ended at once, never one per DAG. The watermark is
Airflow's own ``end_date`` of the last run read, with the runs read that ended at that very
instant, so that runs ending in the same second are neither missed nor told twice.

For each run a subscription wants, the details are read once (the failed tasks, the end of the
first failed task's log) and the post rendered; the posts and the new watermark are recorded
in one transaction, then posted. A post that Slack refuses or never answers stays owed and is
tried again with backoff for ``retry_minutes``, then recorded as undeliverable and logged; one
to a channel the bot cannot write in is not retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.airflow import AirflowError, DagRun
from bot.airflow.models import RunPage, TaskInstance
from bot.core.alerts import (
    AlertButtons,
    Failure,
    failure_alert,
    from_message,
    success_line,
    to_message,
)
from bot.core.buttons import seal
from bot.core.changes import facts
from bot.core.hitl import HitlButtons
from bot.core.hitl_watch import HitlAirflow, HitlWatch, HitlWatchStore
from bot.core.incidents import FAILED, REOPEN_SECONDS, group, shown
from bot.core.loop import After, Loop
from bot.core.messenger import Messenger, Thread, Undelivered
from bot.core.silent import SilentAirflow, SilentStore, SilentWatch
from bot.core.subscriptions import SubscriptionBook, Watching
from bot.store import (
    ActionIssuer,
    IncidentRows,
    NewEvent,
    OwedEvent,
    StoreError,
    WatchesTable,
    WatchState,
)
from bot.store.leases import ProcessOwner
from bot.store.watches import ACK, PENDING

log = logging.getLogger(__name__)

PAGE = 100
PAGES_PER_ROUND = 2  # the calls one round may make to learn what ended
OWED_PAGE = 50  # posts read from the store at a time
ROUND_THREADS = 16  # deployments read at once by one process
CHANGES_READS_PER_ROUND = 10  # last successes read for what changed, at most, in a round
STOP_WAIT_SECONDS = 3.0  # how long stopping waits for the rounds under way (a hung one: no more)
EVENT_OF_STATE = {"failed": "failed", "success": "success"}
FAILED_STATES = ("failed", "upstream_failed")
# Before the first round there is no watermark: start from the newest run that has ended, so a
# new watch posts what ends from now on, not the deployment's history.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class WatchedAirflow(HitlAirflow, SilentAirflow, Protocol):
    """What the watch asks of a deployment's client (bot/airflow/client.py)."""

    def ended_runs(
        self,
        *,
        since: datetime | None,
        states: Sequence[str] = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> RunPage: ...

    def task_instances(
        self, dag_id: str, run_id: str, *, states: Sequence[str] | None = None
    ) -> list[TaskInstance]: ...

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, *, try_number: int, map_index: int = -1
    ) -> list[str]: ...

    def dag_url(self, dag_id: str) -> str: ...

    def run_url(self, dag_id: str, run_id: str) -> str: ...


class WatcherStore(WatchesTable, IncidentRows, HitlWatchStore, SilentStore, ActionIssuer, Protocol):
    """The watches, the failures' incidents, the waiting tasks' posts, the silent trouble's
    incidents, what the watch learned of each DAG, and the buttons of the alerts."""


class Watcher:
    def __init__(
        self,
        *,
        store: WatcherStore,
        clients: Mapping[str, WatchedAirflow],
        book: SubscriptionBook,
        messenger: Messenger,
        buttons: AlertButtons,
        interval_seconds: float,
        retry_minutes: float = 60.0,
        hitl_buttons: HitlButtons | None = None,
        threads: int = ROUND_THREADS,
    ) -> None:
        self._store = store
        self._clients = clients
        self._book = book
        self._messenger = messenger
        self._buttons = buttons
        self._hitl = HitlWatch(store=store, messenger=messenger,
                               buttons=hitl_buttons or HitlButtons("", ""))  # fmt: skip
        self._silent = SilentWatch(store=store, buttons=buttons)
        self.interval = interval_seconds
        self._retry_seconds = retry_minutes * 60.0
        self._owner = ProcessOwner()
        self._loop = Loop("watcher", self.tick, interval=interval_seconds, what="watching Airflow")
        self._held: set[str] = set()  # the deployments this process watched last round
        self._lock = threading.Lock()  # over _held and _busy: rounds run in their own threads
        # Each deployment's round runs in a thread of its own, at most ``threads`` at once, so
        # an Airflow answering slowly (or not at all) delays its own alerts, not the others'.
        # A deployment whose last round is still under way is not started again.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="watch-round")
        self._busy: set[str] = set()
        self._rounds: list[Future[None]] = []  # the last tick's

    @property
    def owner(self) -> str:
        """This process's name on the watches it leases (a forked worker has its own)."""
        return self._owner()

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching in the background (in each serving process, after any fork)."""
        self._loop.start()

    def stop(self) -> None:
        """Stop, and hand the deployments watched here to another process at once (a deploy
        or a restart), rather than after their leases lapse."""
        self._loop.stop()
        # The rounds under way finish first (each is bounded by the client's timeouts), so
        # that none renews a lease handed over here.
        wait(list(self._rounds), timeout=STOP_WAIT_SECONDS)
        with self._lock:
            held, self._held = sorted(self._held), set()
        for deployment in held:
            try:
                self._store.release_watch(deployment, self.owner)
            except StoreError as exc:
                log.warning("could not hand over %s: %s", deployment, exc.kind)

    def tick(self) -> After:
        """One round: every watched deployment this process holds is read, and what is owed
        to channels is posted; each deployment in its own thread. Returns when all are done,
        or, at the latest, after most of an interval (a slow one goes on, and is not started
        again while it does)."""
        began = time.monotonic()
        watched = self._book.by_deployment()
        started = []
        for deployment in sorted(watched.keys() | self._store.owed_deployments()):
            with self._lock:
                if deployment in self._busy:
                    continue
                self._busy.add(deployment)
            started.append(
                self._pool.submit(self._guarded, deployment, watched.get(deployment, []))
            )
        self._rounds = started
        wait(started, timeout=0.9 * self.interval)
        # The next tick an interval after this one began, not after it ended: a tick that
        # waited for a slow deployment does not push back the rounds of all the others.
        return After(max(0.0, self.interval - (time.monotonic() - began)))

    def _guarded(self, deployment: str, watching: list[Watching]) -> None:
        try:
            self._round(deployment, watching)
        except StoreError as exc:
            log.warning("watching %s: the store failed: %s", deployment, exc.kind)
        except Exception:
            log.exception("watching %s failed; the next round tries again", deployment)
        finally:
            with self._lock:
                self._busy.discard(deployment)

    # -- one deployment ----------------------------------------------------------------------

    def _round(self, deployment: str, watching: list[Watching]) -> None:
        state = self._store.take_watch(deployment, self.owner, lease_seconds=2 * self.interval)
        with self._lock:
            if state is None:
                self._held.discard(deployment)
                return  # another process watches it
            self._held.add(deployment)
        client = self._clients.get(deployment)
        if watching and client is not None:
            try:
                self._read(deployment, client, state, watching)
            except AirflowError as exc:
                # Nothing is lost: the watermark stays, and the next round asks again.
                log.info("watching %s: %s", deployment, exc.message)
            try:
                self._hitl.read(deployment, self.owner, client, watching)
            except AirflowError as exc:
                log.info("watching %s for tasks waiting for a person: %s", deployment, exc.message)
            try:
                self._silent.read(deployment, self.owner, client, watching)
            except AirflowError as exc:
                log.info("watching %s for silent trouble: %s", deployment, exc.message)
        # Posted only while the lease is ours, so that two processes never post the same.
        self._deliver(deployment)
        if not watching:
            # Nobody subscribes any more: the next watch starts from then, not from here.
            self._store.release_watch(deployment, self.owner, forget=True)
            with self._lock:
                self._held.discard(deployment)

    def _read(
        self,
        deployment: str,
        client: WatchedAirflow,
        state: WatchState,
        watching: list[Watching],
    ) -> None:
        if state.watermark is None:
            newest, at_newest = _newest(client)
            self._store.advance_watch(
                deployment, self.owner, watermark=newest, at_watermark=at_newest
            )
            return
        ended = _ended_since(client, state)
        if not ended:
            return
        read = [(run, self._events(deployment, client, run, watching)) for run in ended]
        events = self._incidents(deployment, client, read)
        self._silent.learn(deployment, ended, watching)
        mark = max(r.end_date for r in ended if r.end_date is not None)
        at_mark: set[str] = {_key(r) for r in ended if r.end_date == mark}
        if mark == state.watermark:
            at_mark |= state.at_watermark
        self._store.advance_watch(
            deployment, self.owner, watermark=mark, at_watermark=frozenset(at_mark), events=events
        )

    def _events(
        self, deployment: str, client: WatchedAirflow, run: DagRun, watching: list[Watching]
    ) -> list[NewEvent]:
        event = EVENT_OF_STATE.get(run.state)
        if event is None or run.end_date is None:
            return []
        channels = sorted(
            {w.channel_id for w in watching if w.wants(run.dag_id, event, run.end_date)}
        )
        if event == FAILED:
            # Told already (this round read again after a crash): neither read nor counted
            # in its incident again.
            channels = [c for c in channels if not self._store.has_event(
                c, deployment, run.dag_id, run.run_id, event)]  # fmt: skip
        if not channels:
            return []
        dag_url, run_url = client.dag_url(run.dag_id), client.run_url(run.dag_id, run.run_id)
        if event == "failed":
            reply = failure_alert(deployment, run, _failure(client, run), dag_url=dag_url,
                                  run_url=run_url, buttons=self._buttons)  # fmt: skip
        else:
            reply = success_line(deployment, run, dag_url=dag_url, run_url=run_url)
        message = to_message(reply)
        return [NewEvent(c, run.dag_id, run.run_id, event, message) for c in channels]

    def _incidents(
        self, deployment: str, client: WatchedAirflow, read: list[tuple[DagRun, list[NewEvent]]]
    ) -> list[NewEvent]:
        """The round's events, the failures grouped in incidents (bot/core/incidents.py):
        the store is asked for the open ones only when a run failed or succeeded. A DAG whose
        failure opens an incident has its last success read (once a round), for what changed
        since; grouping itself asks Airflow nothing."""
        if not any(events or run.state == "success" for run, events in read):
            return []
        now = datetime.now(UTC)
        since = now - timedelta(seconds=REOPEN_SECONDS)
        rows = self._store.incidents(deployment, FAILED, closed_since=since)
        known = {(row.channel_id, row.dag_id) for row in rows}
        opening = sorted({e.dag_id for run, events in read if run.state == FAILED
                          for e in events if (e.channel_id, e.dag_id) not in known})  # fmt: skip
        last_success = {}
        # A burst of failures across many DAGs would otherwise hold the round (and its
        # alerts) behind as many reads: past the first few, an incident opens without the line.
        for dag_id in opening[:CHANGES_READS_PER_ROUND]:
            try:
                wins = client.successful_runs(dag_id, limit=1)
            except AirflowError as exc:
                log.info("the last success of %s on %s: %s", dag_id, deployment, exc.message)
                continue  # the alert goes without what changed
            last_success[dag_id] = facts(wins[0]) if wins else None
        return group(read, rows, deployment=deployment, ack=self._buttons.ack, now=now,
                     last_success=last_success)  # fmt: skip

    # -- posting -----------------------------------------------------------------------------

    def _deliver(self, deployment: str) -> None:
        """Post what is owed, page after page: posting costs Airflow nothing, so a burst of
        ended runs is posted this round rather than a page per interval (Slack's own rate
        limit still applies: the Web API client waits out a 429). Within most of an interval,
        so that the lease, two intervals long, is renewed in time."""
        deadline = time.monotonic() + 0.8 * self.interval
        while time.monotonic() < deadline:
            owed = self._store.owed_events(deployment, limit=OWED_PAGE)
            for event in owed:
                self._post(event)
            if len(owed) < OWED_PAGE:
                return

    def _post(self, owed: OwedEvent) -> None:
        parent: OwedEvent | None = None
        if "thread_of" in owed.message:
            parent = self._parent(owed)
            if parent is None:
                return
        parent_ts = parent.message_ts if parent is not None else None
        reply = seal(from_message(shown(owed.message)), self._store, user_id="",
                     channel_id=owed.channel_id, thread_ts=parent_ts)  # fmt: skip
        try:
            # Keyed by its try: a round repeated after a crash records it once, and a retry
            # after a refusal is a new message.
            key = f"watch:{owed.id}:{owed.attempts}"
            if parent is None or parent_ts is None:
                ts = self._messenger.send(owed.channel_id, reply, key=key)
            else:
                # The alert is put as it now stands first: replacing is idempotent, so a
                # retry of the two does it again harmlessly, and the reply is never told
                # under an alert that still offers buttons for what is over. Only the reply
                # that made the alert what it now is replaces it: a burst of failures
                # updates it once, not once a reply.
                replace = owed.message.get("replace")
                if replace is not None and _unacked(replace) == _unacked(parent.message):
                    after = seal(from_message(shown(parent.message)), self._store, user_id="",
                                 channel_id=owed.channel_id, thread_ts=None)  # fmt: skip
                    self._messenger.replace(owed.channel_id, parent_ts, after)
                thread = Thread(owed.channel_id, parent_ts, header="")
                ts = self._messenger.reply(thread, reply, key=key)
        except Undelivered as exc:
            age = (datetime.now(UTC) - owed.created_at).total_seconds()
            if exc.needs_invite or age >= self._retry_seconds:
                log.warning("the %s alert of %s to %s is undeliverable: %s",
                            owed.event, owed.run_id, owed.channel_id, exc.error)  # fmt: skip
                self._store.event_undeliverable(owed.id, exc.error)
            else:
                delay = min(600.0, self.interval * 2.0**owed.attempts)
                self._store.event_retry(owed.id, delay_seconds=delay, error=exc.error)
            return
        self._store.event_posted(owed.id, ts)

    def _parent(self, owed: OwedEvent) -> OwedEvent | None:
        """The posted alert in whose thread ``owed`` goes; None (and ``owed`` dealt with)
        while the alert is not posted yet, or when it never will be."""
        ref = owed.message["thread_of"]
        parent = self._store.event_by_id(ref) if isinstance(ref, int) else None
        if parent is not None and parent.message_ts:
            return parent
        if parent is not None and parent.state == PENDING:
            # Its alert is still owed (Slack was out): this waits behind it.
            self._store.event_retry(owed.id, delay_seconds=self.interval, error="alert owed")
        else:
            self._store.event_undeliverable(owed.id, "its alert was never posted")
        return None


def _unacked(message: dict[str, Any]) -> dict[str, Any]:
    """An incident's message without who acknowledged it, which the store keeps apart from
    what the watch renders (bot/store/watches.py)."""
    return {k: v for k, v in message.items() if k != ACK}


def _newest(client: WatchedAirflow) -> tuple[datetime, frozenset[str]]:
    """The end date of the newest run that has ended, and the runs that ended then."""
    count = client.ended_runs(since=None, limit=1)
    if count.total == 0:
        return BEGINNING, frozenset()
    tail = client.ended_runs(since=None, limit=PAGE, offset=max(0, count.total - PAGE)).runs
    ends = [r.end_date for r in tail if r.end_date is not None]
    if not ends:
        return BEGINNING, frozenset()
    newest = max(ends)
    return newest, frozenset(_key(r) for r in tail if r.end_date == newest)


def _ended_since(client: WatchedAirflow, state: WatchState) -> list[DagRun]:
    """The runs that ended since the watermark, not yet read, oldest first: PAGES_PER_ROUND
    calls at most, the rest read next round from the new watermark.

    Only when those pages hold nothing new (more runs than they hold ended at the watermark's
    very instant: Airflow gives ties no order the bot could page by) does it read on, until
    something new or the end, rather than stall there for good."""
    assert state.watermark is not None
    found: list[DagRun] = []
    offset, calls = 0, 0
    while True:
        page = client.ended_runs(since=state.watermark, limit=PAGE, offset=offset)
        calls += 1
        for run in page.runs:
            if run.end_date is None or run.end_date < state.watermark:
                continue
            if run.end_date == state.watermark and _key(run) in state.at_watermark:
                continue
            found.append(run)
        offset += len(page.runs)
        if not page.runs or offset >= page.total or (calls >= PAGES_PER_ROUND and found):
            break
    return sorted(found, key=lambda r: r.end_date or BEGINNING)


def _failure(client: WatchedAirflow, run: DagRun) -> Failure:
    """The failed tasks and the end of the first one's log; what cannot be read is said."""
    try:
        failed = client.task_instances(run.dag_id, run.run_id, states=FAILED_STATES)
    except AirflowError as exc:
        return Failure(missing=f"The failed tasks could not be read: {exc.message}")
    names = [t.task_id for t in failed]
    first = next((t for t in failed if t.state == "failed" and t.try_number > 0), None)
    if first is None:
        return Failure(failed_tasks=names)
    try:
        lines = client.task_log(run.dag_id, run.run_id, first.task_id,
                                try_number=first.try_number, map_index=first.map_index)  # fmt: skip
    except AirflowError as exc:
        return Failure(failed_tasks=names, missing=f"The log could not be read: {exc.message}")
    return Failure(names, first.task_id, first.try_number, lines)


def _key(run: DagRun) -> str:
    return f"{run.dag_id}/{run.run_id}"
