"""The one way the bot runs something in the background: a round, again and again, until told
to stop.

Every background loop (following runs, the watch, the outbox, housekeeping, the request
journal, the Slack identity's retry) is its round function plus a :class:`Loop`: a named daemon
thread that waits, runs the round, and waits again. A round that fails does not end the loop:
the store's error (:class:`~bot.store.StoreError`, the database down) is logged as a warning
and the next round tries again; anything else is logged with its traceback, and the loop
carries on, so that one bug does not silently stop the bot watching, following or posting.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.store import StoreError

log = logging.getLogger(__name__)


class _Stop:
    def __repr__(self) -> str:
        return "STOP"


STOP = _Stop()  # what a round returns to end its loop: its work is done


@dataclass(frozen=True)
class After:
    """What a round returns to have the next one come after ``seconds`` (a backoff) rather
    than the interval. Anything else a round returns is ignored."""

    seconds: float


class Loop:
    """Runs ``round`` in a daemon thread named ``name`` from :meth:`start` until :meth:`stop`.

    * ``interval``: the seconds between rounds (from the end of one to the start of the next),
      unless the round returns :class:`After`, or :meth:`wake` cuts the wait short. A round
      that returns :data:`STOP` ends the loop.
    * ``first_wait``: before the first round (0: at once), longer by up to ``jitter`` seconds at
      random, so that processes started together do not all run their rounds at once (they
      stay apart after that).
    * ``lease``: asked before each round; while it answers False (another process holds the
      lease this loop needs) the round is skipped. It takes or renews the lease itself.
    * ``what``: what the loop does, for its log lines: "<what>: the state store failed: ..."
      and "<what> failed; carrying on". ``on_store_error`` and ``unexpected`` say them
      otherwise (a loop that says a store failure once a minute).
    * ``final_round``: a stop that ends the wait runs one more round before the loop ends
      (the outbox: what is due goes before the process does).
    * ``join_seconds``: how long :meth:`stop` waits for the round under way (0: it does not).
    """

    def __init__(
        self,
        name: str,
        round: Callable[[], object],
        *,
        interval: float,
        what: str,
        first_wait: float = 0.0,
        jitter: float = 0.0,
        lease: Callable[[], bool] | None = None,
        on_store_error: Callable[[StoreError], None] | None = None,
        unexpected: str | None = None,
        final_round: bool = False,
        join_seconds: float = 10.0,
    ) -> None:
        self.name = name
        self.interval = interval
        self._round = round
        self._what = what
        self._first_wait = first_wait
        self._jitter = jitter
        self._lease = lease
        self._on_store_error = on_store_error or self._say_store_failed
        self._unexpected = unexpected or f"{what} failed; carrying on"
        self._final_round = final_round
        self._join_seconds = join_seconds
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (in each serving process, after any fork); nothing if it runs."""
        if self.running:
            return
        if self._stopped.is_set():  # started again: forget the wake stop() set (not one since)
            self._stopped.clear()
            self._wake.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the wait under way, and the loop with it; wait ``join_seconds`` for a round
        under way to end."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is None or self._join_seconds <= 0 or thread is threading.current_thread():
            return
        thread.join(timeout=self._join_seconds)

    def wake(self) -> None:
        """Run the next round now rather than after the wait."""
        self._wake.set()

    def first_delay(self) -> float:
        """The wait before the first round: ``first_wait``, plus up to ``jitter``."""
        if self._jitter <= 0:
            return self._first_wait
        return self._first_wait + random.uniform(0.0, self._jitter)  # noqa: S311 - spreading

    def guarded(self, step: Callable[[], object]) -> object:
        """``step()``, its failure logged as the loop logs a round's (for a round made of steps
        that each must run whatever the one before did); None when it failed."""
        try:
            return step()
        except StoreError as exc:
            self._on_store_error(exc)
        except Exception:  # a bug must not stop the loop for good
            log.exception(self._unexpected)
        return None

    def run_round(self) -> object:
        """One round, as the thread runs it: skipped without the lease, never raising."""
        if self._lease is not None and not self.guarded(self._lease):
            return None
        return self.guarded(self._round)

    def _run(self) -> None:
        wait = self.first_delay()
        while True:
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            if self._stopped.is_set() and not self._final_round:
                return
            after = self.run_round()
            if after is STOP or self._stopped.is_set():
                return
            wait = after.seconds if isinstance(after, After) else self.interval

    def _say_store_failed(self, exc: StoreError) -> None:
        log.warning("%s: the state store failed: %s", self._what, exc.kind)
