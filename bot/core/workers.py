"""The bounded pool that runs the slow half of every command, off the request thread.

Bolt's own executor is shared with its ack machinery; ours is separate, so acks never wait
behind Airflow calls. It is bounded twice: at most ``threads`` commands working at once, and a
cap on work accepted but not yet finished, so a flood is told "busy" at once instead of
queueing for minutes. Each job starts in a lull between acks (``bot.core.ack_priority``), so a
burst's work does not slow its acks.

A command waiting for Airflow (for a read another command has in flight, or for its turn in
the deployment's budget: ``bot.airflow.waits``) steps aside: it stops counting as working, and
the pool starts the next job in its place, on a thread of its own if none is idle. So 500
commands asking the same thing all join the one call in flight, instead of 32 of them at a
time each waiting for its own; the posting, audit and rendering around the calls stay at
``threads`` at once. Back from its wait, a command goes before any job not yet started.
Threads beyond ``threads`` end once there is no work for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.airflow import waits
from bot.core.ack_priority import AckPriority

log = logging.getLogger(__name__)

SPARE_THREAD_SECONDS = 10.0
"""How long a thread beyond ``threads`` waits for more work before it ends (a burst comes in
waves: one that just ended is likely to be followed by another)."""


@dataclass(frozen=True)
class _Job:
    fn: Callable[[], None]
    submitted: float
    handover: Any = None  # what another process needs to do it instead (bot/slack/handover.py)


class Workers:
    def __init__(
        self, *, threads: int = 32, max_pending: int = 1000, priority: AckPriority | None = None
    ) -> None:
        self.threads = threads
        self.capacity = threads + max_pending
        self.priority = priority or AckPriority()
        self._lock = threading.Lock()
        self._job_ready = threading.Condition(self._lock)  # idle threads wait here
        self._place_free = threading.Condition(self._lock)  # commands back from a wait
        self._jobs: deque[_Job] = deque()
        self._in_flight = 0  # accepted, not finished
        self._working = 0  # running and not stepped aside
        self._returning = 0  # back from a wait, waiting for a place
        self._idle = 0
        self._at_lull = 0  # jobs waiting for a lull between acks (bot.core.ack_priority)
        self._threads: set[threading.Thread] = set()  # alive
        self._closed = False

    def start(self) -> None:
        """Start ``threads`` threads now, so that no request thread has to start one: in each
        serving process, after gunicorn forks it (threads do not survive a fork). Without
        it, threads start with the first jobs."""
        with self._lock:
            while len(self._threads) < self.threads:
                self._start_thread()

    def try_submit(self, fn: Callable[[], None], handover: Any = None) -> bool:
        """Run ``fn`` on the pool; False, at once, when running and waiting work is at the cap.
        ``handover``: what ``take_unstarted`` gives back if ``fn`` has not started by then."""
        with self._lock:
            if self._closed or self._in_flight >= self.capacity:
                return False
            self._in_flight += 1
            self._jobs.append(_Job(fn, time.monotonic(), handover))
            self._offer_job()
        return True

    def take_unstarted(self) -> list[Any]:
        """Stop: accept nothing more, and take back the jobs not started that can be handed
        over (their ``handover``); the others, and those running, still run."""
        with self._lock:
            self._closed = True
            kept = deque(job for job in self._jobs if job.handover is None)
            taken = [job.handover for job in self._jobs if job.handover is not None]
            self._in_flight -= len(self._jobs) - len(kept)
            self._jobs = kept
            self._job_ready.notify_all()
        return taken

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every accepted job to finish; True if they did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return True
            time.sleep(0.05)
        return self.in_flight == 0

    @property
    def accepting(self) -> bool:
        """Taking new work, with room for more than a few jobs."""
        with self._lock:
            return not self._closed and self._in_flight < self.capacity // 2

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def shutdown(self, *, wait: bool = True) -> None:
        """Accept nothing more; the jobs accepted still run. ``wait``: until they are done."""
        with self._lock:
            self._closed = True
            self._job_ready.notify_all()
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    # -- the threads ------------------------------------------------------------------------

    def _offer_job(self) -> None:
        """If a job waits and a place is free: wake an idle thread, or start one. Lock held.

        On the request thread too, as a ThreadPoolExecutor does, but at most one a request:
        each thread that takes a job offers the next (_next_job), so a backlog is picked up
        by the pool's own threads."""
        if not self._jobs or self._working >= self.threads or self._returning:
            return
        if self._at_lull:
            return  # a job waits for a lull between acks: it offers the next once there
        if self._idle:
            self._job_ready.notify()
        elif len(self._threads) < self.capacity:
            self._start_thread()

    def _start_thread(self) -> None:
        """Lock held."""
        thread = threading.Thread(target=self._serve, name="chatops-work", daemon=True)
        self._threads.add(thread)
        self._idle += 1  # idle from its start: it looks for a job before it ever waits
        thread.start()

    def _serve(self) -> None:
        waits.install(self._step_aside)
        while (job := self._next_job()) is not None:
            try:
                self._wait_for_lull(job.submitted)
                job.fn()
            except Exception:
                # Work functions render their own failures; reaching here is a bug worth a trace.
                log.exception("unhandled error in background work")
            finally:
                with self._lock:
                    self._working -= 1
                    self._in_flight -= 1
                    self._idle += 1
                    # This thread takes the next job itself, after any command back from a wait.
                    if self._returning:
                        self._place_free.notify()

    def _wait_for_lull(self, submitted: float) -> None:
        """While requests are being acknowledged, one job waits for them to stop, and the
        others wait for it, queued and not on threads woken for nothing: waking 32 threads
        in the middle of a burst takes the interpreter from the request threads."""
        with self._lock:
            self._at_lull += 1
        try:
            self.priority.wait_for_lull(since=submitted)
        finally:
            with self._lock:
                self._at_lull -= 1
                self._offer_job()

    def _next_job(self) -> _Job | None:
        """The next job, counted as working; None when this thread should end. The thread is
        counted idle when it comes here."""
        me = threading.current_thread()
        with self._lock:
            try:
                while not self._jobs or self._working >= self.threads or self._returning:
                    if self._closed and not self._jobs:
                        self._threads.discard(me)
                        return None
                    spare = len(self._threads) > self.threads
                    woken = self._job_ready.wait(SPARE_THREAD_SECONDS if spare else None)
                    if not woken and len(self._threads) > self.threads and not self._jobs:
                        self._threads.discard(me)
                        return None
            finally:
                self._idle -= 1
            self._working += 1
            job = self._jobs.popleft()
            if self._closed and not self._jobs:
                self._job_ready.notify_all()  # the last job: the idle threads may end now
            self._offer_job()
            return job

    @contextmanager
    def _step_aside(self) -> Iterator[None]:
        with self._lock:
            self._working -= 1
            if self._returning:
                self._place_free.notify()
            else:
                self._offer_job()
        try:
            yield
        finally:
            with self._lock:
                self._returning += 1
                while self._working >= self.threads:
                    self._place_free.wait()
                self._returning -= 1
                self._working += 1
                self._offer_job()  # places the returning commands left free
