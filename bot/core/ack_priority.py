"""Acks before work: new background work waits, briefly, while requests are being acknowledged.

Python threads have no priorities and share one interpreter lock. When a burst of commands
arrives, the work of the first ones (each posting a parent message to Slack, writing audit
rows) would start at once and take that lock from the request threads still acknowledging
the rest. Measured with 50 commands at once and Airflow at 5 s (bench/ack_latency.py, one
process): p99 ack 118-142 ms with the work starting at once, 58 ms with it held back.

Slack shows the user an error when an ack misses its 3 s deadline; nobody notices a threaded
answer that comes 50 ms later. So a worker about to start a job first waits until no request
has been in the bot for ``quiet_seconds``, but never longer than ``max_wait_seconds``: a
steady stream of requests delays work by that much at most, and never starves it.

Why 1 s: long enough to hold the work back for a whole burst. 500 commands at once take this
process about 0.6 s to ack; with 0.25 s the held-back jobs were let go together in the middle
of it and the p99 ack got worse than with no waiting at all (median of runs: 680 ms against
566 ms), with 1 s it got better (502 ms). The cost is bounded: with requests arriving back to
back for good, a pool of 32 threads still starts 32 jobs a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
QUIET_SECONDS = 0.01
MAX_WAIT_SECONDS = 1.0


class AckPriority:
    def __init__(
        self,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._quiet = quiet_seconds
        self._max_wait = max_wait_seconds
        self._lock = threading.Lock()
        self._acking = 0
        self._last_ack_end = float("-inf")
        # One waiting worker watches for the lull; the others queue on this lock, asleep,
        # instead of 32 threads polling the clock together.
        self._watch = threading.Lock()

    @contextmanager
    def acking(self) -> Iterator[None]:
        """Around a request's handling, up to its ack."""
        with self._lock:
            self._acking += 1
        try:
            yield
        finally:
            with self._lock:
                self._acking -= 1
                self._last_ack_end = time.monotonic()

    def middleware(self, next: Callable[[], T]) -> T:
        """Bolt middleware (Bolt passes arguments by their names): HTTP and Socket Mode alike."""
        with self.acking():
            return next()

    def wait_for_lull(self, since: float | None = None) -> None:
        """Block until no request has been handled for ``quiet_seconds``, or
        ``max_wait_seconds`` have passed since ``since`` (default: now; a job's submission,
        so that jobs queued behind one another are held back no longer than one is)."""
        deadline = (time.monotonic() if since is None else since) + self._max_wait
        if not self._watch.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return
        try:
            while True:
                now = time.monotonic()
                with self._lock:
                    quiet_for = 0.0 if self._acking else now - self._last_ack_end
                if quiet_for >= self._quiet or now >= deadline:
                    return
                time.sleep(min(self._quiet - quiet_for, deadline - now))
        finally:
            self._watch.release()
