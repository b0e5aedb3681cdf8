"""Following the runs the bot started: say in the thread when each starts and how it ends.

Follows live in the store, so they survive restarts (a run that ended while the bot was down
is reported when it is back) and are shared by every process on one database: a process leases
the follows it checks, and each state is recorded as told before it is posted, so each is
posted once however many processes there are. A process that dies loses its leases after
``lease_seconds`` and another carries on.

Airflow is polled: every ``poll_seconds`` at first, backing off to once a minute for long
runs, until the run ends or ``limit_seconds`` pass.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from bot.airflow import AirflowClient, AirflowError, AirflowNotFound, DagRun
from bot.core import format as fmt
from bot.core.buttons import seal
from bot.core.loop import Loop
from bot.core.messenger import Messenger, Thread, Undelivered
from bot.core.parser import Command
from bot.core.reply import (
    Block,
    Buttons,
    Intent,
    Reply,
    actions,
    code,
    context,
    escape,
    link,
    link_button,
    section,
    text_reply,
)
from bot.store import ActionIssuer, Follow, FollowsTable, StoreError
from bot.store.leases import ProcessOwner

log = logging.getLogger(__name__)

UNDER_WAY = frozenset({"queued", "running"})
MAX_INTERVAL_S = 60.0
# How long one check listens to Airflow 3.1+'s stream of a run's state before handing the
# follow back (well within its lease); a small pool lets several be listened to at once.
STREAM_WINDOW_S = 10.0
CHECK_THREADS = 4  # streams hold an api-server connection: leave room for commands


class FollowerStore(FollowsTable, ActionIssuer, Protocol):
    """The follows, and the buttons of what is said in their threads."""


class Follower:
    def __init__(
        self,
        *,
        store: FollowerStore,
        clients: Mapping[str, AirflowClient],
        messenger: Messenger,
        clear_action: str,
        limit_seconds: float,
        poll_seconds: float = 2.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self._store = store
        self._clients = clients
        self._messenger = messenger
        # The action id of the button that clears a failed run's tasks (commands/clear.py).
        self._clear_action = clear_action
        self.limit_seconds = limit_seconds
        self._poll = poll_seconds
        self._lease = lease_seconds
        self._owner = ProcessOwner()
        self._loop = Loop("follower", self.tick, interval=poll_seconds, what="following runs")

    @property
    def owner(self) -> str:
        """This process's name on the follows it leases (a forked worker has its own)."""
        return self._owner()

    def follow(
        self,
        *,
        deployment: str,
        dag_id: str,
        run_id: str,
        channel_id: str,
        thread_ts: str | None,
        header: str | None,
        requested_by: str,
        reported: str = "queued",
    ) -> None:
        self._store.add_follow(
            deployment=deployment,
            dag_id=dag_id,
            run_id=run_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            header=header,
            requested_by=requested_by,
            limit_seconds=self.limit_seconds,
            reported=reported,
            # Recorded before the trigger's reply is posted (so a crash loses no follow), and
            # first checked a moment later (so "running" never comes before "triggered").
            first_check_in=self._poll,
        )

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        """Start checking in the background (in each serving process, after any fork)."""
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def tick(self) -> int:
        """Check every follow that is due; returns how many were checked."""
        follows = self._store.take_due_follows(self.owner, lease_seconds=self._lease)
        if len(follows) == 1:
            self._check(follows[0])
        elif follows:
            with ThreadPoolExecutor(min(CHECK_THREADS, len(follows))) as pool:
                list(pool.map(self._check_safely, follows))
        return len(follows)

    def _check_safely(self, follow: Follow) -> None:
        try:
            self._check(follow)
        except Exception:  # one follow's bug must not stop the others in this round
            log.exception("following run %s failed; will retry", follow.run_id)

    # -- one follow ------------------------------------------------------------------------

    def _check(self, follow: Follow) -> None:
        client = self._clients.get(follow.deployment)
        now = datetime.now(UTC)
        if client is None:
            self._give_up(follow, f"{code(follow.deployment)} is no longer configured")
            return
        streamed = False
        if client.can_wait():
            if follow.checks == 0:
                log.info("following %s by its state stream (/wait)", follow.run_id)
            try:
                follow = self._listen(follow, client)
                streamed = True
            except AirflowNotFound:
                self._give_up(follow, "the run no longer exists in Airflow")
                return
            except AirflowError as exc:
                log.info("the state stream of %s failed (%s): polling", follow.run_id, exc.message)
        elif follow.checks == 0:
            log.info("following %s by polling", follow.run_id)
        try:
            run = client.get_run(follow.dag_id, follow.run_id)
        except AirflowNotFound:
            self._give_up(follow, "the run no longer exists in Airflow")
            return
        except AirflowError as exc:
            log.info("following %s: %s", follow.run_id, exc.message)
            if now >= follow.give_up_at:
                self._give_up(follow, f"Airflow kept failing: {escape(exc.message)}")
            else:
                self._later(follow)
            return
        if run.state not in UNDER_WAY:
            self._ended(follow, client, run)
            return
        started = run.state == "running" and follow.reported == "queued"
        if started:
            follow = self._running(follow, client)
        if now >= follow.give_up_at:
            limit = fmt.duration((follow.give_up_at - follow.created_at).total_seconds())
            self._give_up(follow, f"it was still {escape(run.state)} after {limit}")
            return
        # After listening to the stream for a while, the next check may start at once.
        self._later(follow, 0.0 if streamed else None)

    def _listen(self, follow: Follow, client: AirflowClient) -> Follow:
        """Follow Airflow's stream of the run's state until it ends or the window closes."""
        for state in client.wait_run(follow.dag_id, follow.run_id, seconds=STREAM_WINDOW_S):
            if state == "running" and follow.reported == "queued":
                follow = self._running(follow, client)
            if state not in UNDER_WAY:
                break
        return follow

    def _running(self, follow: Follow, client: AirflowClient) -> Follow:
        if self._store.report_follow(follow.id, self.owner, before="queued", after="running"):
            url = client.run_url(follow.dag_id, follow.run_id)
            self._say(
                follow,
                _text_reply(f":arrow_forward: Run {link(url, follow.run_id)} is running."),
            )
        return dataclasses.replace(follow, reported="running")

    def _ended(self, follow: Follow, client: AirflowClient, run: DagRun) -> None:
        if not self._store.report_follow(follow.id, self.owner, before=follow.reported,
                                         after="ended"):  # fmt: skip
            return  # told already (by another process, or our lease lapsed)
        failed: list[str] = []
        if run.state != "success":
            try:
                failed = client.failed_tasks(follow.dag_id, follow.run_id)
            except AirflowError as exc:
                log.info("could not list the failed tasks of %s: %s", follow.run_id, exc.message)
        reply = _end_reply(follow, client, run, failed, self._clear_action)
        self._say(follow, reply)
        if follow.header and follow.thread_ts:
            thread = Thread(follow.channel_id, follow.thread_ts, follow.header)
            self._messenger.close(thread, reply)

    def _give_up(self, follow: Follow, why: str) -> None:
        if self._store.report_follow(follow.id, self.owner, before=follow.reported,
                                     after="gave_up"):  # fmt: skip
            self._say(follow, _text_reply(f":hourglass: Stopped following run "
                                          f"{code(follow.run_id)}: {why}."))  # fmt: skip

    def _later(self, follow: Follow, delay: float | None = None) -> None:
        # Quick at first (most runs the bot starts are short), then easing off to once a minute.
        if delay is None:
            delay = min(MAX_INTERVAL_S, self._poll * (1.25 ** max(0, follow.checks - 20)))
        self._store.check_follow_later(follow.id, self.owner, delay)

    def _say(self, follow: Follow, reply: Reply) -> None:
        sealed = seal(reply, self._store, user_id=follow.requested_by,
                      channel_id=follow.channel_id, thread_ts=follow.thread_ts)  # fmt: skip
        try:
            if follow.thread_ts:
                self._messenger.reply(Thread(follow.channel_id, follow.thread_ts, ""), sealed)
            else:
                self._messenger.ephemeral(follow.channel_id, follow.requested_by, sealed)
        except Undelivered as exc:
            log.warning("could not report on %s: %s", follow.run_id, exc.error)


def follow_run(follower: Follower, cmd: Command, thread: Thread, user: str, run_id: str) -> None:
    """Report in the thread when the run the command started starts and how it ends."""
    try:
        follower.follow(
            deployment=cmd.deployment or "",
            dag_id=cmd.dag_id or "",
            run_id=run_id,
            channel_id=thread.channel,
            thread_ts=thread.ts,
            header=thread.header or None,
            requested_by=user,
        )
    except StoreError as exc:
        log.error("cannot follow run %s: the state store failed: %s", run_id, exc.kind)


def _end_reply(
    follow: Follow, client: AirflowClient, run: DagRun, failed: list[str], clear_action: str
) -> Reply:
    url = client.run_url(follow.dag_id, follow.run_id)
    ok = run.state == "success"
    icon = ":white_check_mark:" if ok else ":x:"
    took = fmt.duration(run.duration_seconds)
    text = (
        f"{icon} Run {link(url, follow.run_id)} of {code(follow.dag_id)} on "
        f"{code(follow.deployment)} ended {fmt.state(run.state)} after {took}."
    )
    blocks: list[Block] = [section(text)]
    buttons = Buttons()
    if failed:
        names = ", ".join(code(t) for t in failed[:20])
        blocks.append(section(f"Failed tasks: {names}"))
    if not ok:
        clear = Intent(
            clear_action, follow.deployment, follow.dag_id, args={"run_id": follow.run_id}
        )
        blocks.append(
            actions(
                link_button("Logs of the failed tasks", url),
                buttons.button("Clear failed tasks", clear, style="danger"),
            )
        )
    blocks.append(context(f"Requested by <@{follow.requested_by}>."))
    outcome = f"run {escape(run.state)} after {took}" + (
        f"; failed: {', '.join(code(t) for t in failed[:5])}" if failed else ""
    )
    return Reply(
        text=text + (f" Failed tasks: {', '.join(code(t) for t in failed[:20])}" if failed else ""),
        blocks=blocks,
        ok=ok,
        outcome=outcome,
        run_id=follow.run_id,
        intents=tuple(buttons.intents),
    )


def _text_reply(text: str) -> Reply:
    return text_reply(text)
