"""A command's thread about to send Airflow a write tells whoever runs it, first.

A read can be sent again whenever a request is carried on by another process (after a deploy
or a crash: bot/slack/journal.py); a write cannot, since Airflow may have done it already.
The request journal installs a hook per thread that records "a write may have been sent"
before the first write leaves, and that refuses the write (``AirflowOutcomeUnknown``) when the
request is one a stopped process had already sent a write for, or one this process has handed
over to another.

The hook is per thread, as ``bot.airflow.waits``: the follower, the watch, tests and the
console send their writes with no hook at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Hook = Callable[[], None]

_thread = threading.local()


def before_write() -> None:
    """Before a request that may change Airflow's state is sent: the calling thread's hook,
    which may raise to stop it."""
    hook: Hook | None = getattr(_thread, "hook", None)
    if hook is not None:
        hook()


def install(hook: Hook | None) -> None:
    """Set (or clear, with None) the hook of the calling thread."""
    _thread.hook = hook
