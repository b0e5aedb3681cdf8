"""The bounded pool that runs the slow half of every command, off the request thread.

Bolt's own executor is shared with its ack machinery; ours is separate, so acks never wait
behind Airflow calls. It is bounded twice: a fixed number of threads, and a cap on work
waiting for one, so a flood is told "busy" at once instead of queueing for minutes. Each job
starts in a lull between acks (``bot.core.ack_priority``), so a burst's work does not slow its acks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.core.ack_priority import AckPriority

log = logging.getLogger(__name__)


class Workers:
    def __init__(
        self, *, threads: int = 32, max_pending: int = 1000, priority: AckPriority | None = None
    ) -> None:
        self.capacity = threads + max_pending
        self.priority = priority or AckPriority()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chatops-work")
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._in_flight = 0
        self._lock = threading.Lock()

    def try_submit(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on the pool; False, at once, when running and waiting work is at the cap."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self._in_flight += 1
        try:
            future = self._pool.submit(self._run, fn)
        except RuntimeError:  # the pool is shutting down
            self._release(None)
            return False
        future.add_done_callback(self._release)
        return True

    def _run(self, fn: Callable[[], None]) -> None:
        self.priority.wait_for_lull()
        fn()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def _release(self, future: Future[None] | None) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()
        if future is not None and (exc := future.exception()) is not None:
            # Work functions render their own failures; reaching here is a bug worth a trace.
            log.error("unhandled error in background work", exc_info=exc)

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
