"""A deployment's budget of Airflow calls in flight (``max_in_flight``), for one process or for
every process gunicorn forks.

Airflow 3's api-server hangs for good when more calls are in flight than its database pool
holds (apache/airflow#73422), so the budget is the dyno's, not each process's: split between
processes, each half filled unevenly and answers came later (two processes answered 88% of 50
commands within 60 s, one process 100%).

``SharedBudget`` is made before the fork, in the preloaded app: ``max_in_flight`` lock files,
a permit being an exclusive ``flock`` on one of them. The kernel drops a process's locks when it
dies, however it dies, so a worker gunicorn kills (timeout, out of memory, SIGKILL) gives its
permits back at once: the budget never shrinks for good. A live call holds its permit at most
for the deployment's ``timeout`` and retries, as the calls themselves are bounded.

Within a process, threads wait their turn on a condition; a permit released by another
process is noticed by one waiting thread polling every ``POLL_SECONDS`` (only while this
process has waiters and some permits are held elsewhere).

A thread that must wait steps aside (``bot.airflow.waits``), so the pool can start other work.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import weakref
from pathlib import Path
from typing import Protocol

from bot.airflow import dyno, waits

POLL_SECONDS = 0.002
"""How often a process waiting for a permit looks for one another process gave back: a few
milliseconds against Airflow calls of tens of milliseconds or more."""


class Budget(Protocol):
    """Held around each call to the deployment: ``with budget: ...``."""

    def __enter__(self) -> None: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalBudget:
    """The budget of one process: a semaphore."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)  # 0 is taken as 1, never as "no calls at all"
        self._permits = threading.BoundedSemaphore(self.size)

    def __enter__(self) -> None:
        if not self._permits.acquire(blocking=False):
            with waits.aside():
                self._permits.acquire()

    def __exit__(self, *exc: object) -> None:
        self._permits.release()


class SharedBudget:
    """The budget of every process forked after it was made: ``size`` permits in all."""

    def __init__(self, size: int, *, directory: Path, name: str) -> None:
        self.size = max(1, size)
        self._paths = [directory / f"{name}.{i}.lock" for i in range(self.size)]
        for path in self._paths:
            path.touch()
        self._start_process()
        _budgets.add(self)

    def _start_process(self) -> None:
        """This process's own state. A forked child starts afresh: the parent's descriptors
        would share their locks with it (a lock belongs to an open file description)."""
        self._cond = threading.Condition()
        self._fds: dict[int, int] = {}
        self._held: set[int] = set()  # slots held by this process's threads
        self._polling = False
        self._mine = threading.local()
        # Processes look at the slots from different places, to collide less.
        self._first = random.randrange(self.size)  # noqa: S311 (not a secret)

    def __enter__(self) -> None:
        with self._cond:
            slot = self._take()
        if slot is None:
            with waits.aside():
                slot = self._wait()
        self._slots().append(slot)

    def __exit__(self, *exc: object) -> None:
        slot = self._slots().pop()
        with self._cond:
            fcntl.flock(self._fds[slot], fcntl.LOCK_UN)
            self._held.discard(slot)
            self._cond.notify()

    def _slots(self) -> list[int]:
        slots: list[int] | None = getattr(self._mine, "slots", None)
        if slots is None:
            slots = self._mine.slots = []
        return slots

    def _take(self) -> int | None:
        """A free slot, locked for this process; the condition's lock is held."""
        for step in range(self.size):
            slot = (self._first + step) % self.size
            if slot in self._held:
                continue
            fd = self._fds.get(slot)
            if fd is None:
                fd = self._fds[slot] = os.open(self._paths[slot], os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(slot)
            return slot
        return None

    def _wait(self) -> int:
        with self._cond:
            while True:
                slot = self._take()
                if slot is not None:
                    # Whoever waits next looks for permits given back elsewhere in its turn.
                    self._cond.notify()
                    return slot
                if self._polling or len(self._held) == self.size:
                    # Another thread polls, or every permit is this process's: a release
                    # here notifies.
                    self._cond.wait()
                    continue
                self._polling = True
                try:
                    self._cond.wait(POLL_SECONDS)
                finally:
                    self._polling = False

    def held_here(self) -> int:
        """Permits held by this process's threads (for tests and diagnostics)."""
        with self._cond:
            return len(self._held)


_budgets: weakref.WeakSet[SharedBudget] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for budget in list(_budgets):
        for fd in budget._fds.values():
            # Closing the child's copy leaves the parent's lock, if any, to the parent.
            with contextlib.suppress(OSError):
                os.close(fd)
        budget._start_process()


os.register_at_fork(after_in_child=_after_fork_in_child)


def budget_for(name: str, size: int, *, processes: int) -> LocalBudget | SharedBudget:
    """``processes`` > 1: the budget gunicorn's processes share (make it before they fork)."""
    if processes <= 1:
        return LocalBudget(size)
    return SharedBudget(size, directory=dyno.directory(), name=dyno.file_name(name))
