"""A command's thread about to wait for Airflow tells the pool running it, which may start other
work meanwhile.

``bot.core.workers`` runs commands on a bounded number of threads. A thread waiting for a read
another command already has in flight (``bot.airflow.sharing``), or for its turn in the
deployment's budget of calls (``bot.airflow.budget``), does no work and holds nothing that
others need: the pool lends its place to the next command, which may well be asking Airflow
the very same thing. Without that, 32 threads waiting 5 s for one shared answer would keep
the 33rd command from even joining it.

The pool installs its hook per thread, so the Airflow client, used from any thread (the
follower, tests, the console), waits in place where no pool runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

Aside = Callable[[], AbstractContextManager[None]]

_thread = threading.local()


def aside() -> AbstractContextManager[None]:
    """Around a wait for Airflow: the running pool's hook, or nothing outside a pool."""
    hook: Aside | None = getattr(_thread, "hook", None)
    if hook is None or getattr(_thread, "aside", False):
        return nullcontext()  # not in a pool, or already stepped aside (a wait within a wait)
    return _stepped(hook)


@contextmanager
def _stepped(hook: Aside) -> Iterator[None]:
    _thread.aside = True
    try:
        with hook():
            yield
    finally:
        _thread.aside = False


def install(hook: Aside | None) -> None:
    """Set (or clear, with None) the hook of the calling thread."""
    _thread.hook = hook
