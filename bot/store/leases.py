"""Who holds a lease: the one format of the ``lease_owner`` the store's tables keep.

An owner names a host and a process, for the operator reading the tables, and ends with eight
random hex digits, so that a process restarted with the same pid, or a second holder in one
process, is never taken for the one before it. It fits the tables' ``String(64)`` whatever
the host's name.
"""

from __future__ import annotations

import os
import socket
import uuid

OWNER_MAX = 64  # the lease_owner columns (bot/store/schema.py)
HOST_MAX = 30  # enough to tell hosts apart in a table; the rest of a long name is cut


def new_owner() -> str:
    """A new lease owner, ``host:pid:1a2b3c4d``, at most OWNER_MAX characters."""
    pid, tail = str(os.getpid()), uuid.uuid4().hex[:8]
    room = OWNER_MAX - len(pid) - len(tail) - 2
    host = socket.gethostname()[: min(HOST_MAX, room)] or "host"
    return f"{host}:{pid}:{tail}"


class ProcessOwner:
    """A holder's owner: the same each time it is asked, and a new one in a process forked
    from the one that made it (gunicorn forks after the app is built), which must not share
    its parent's leases."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._owner = new_owner()

    def __call__(self) -> str:
        if self._pid != os.getpid():
            self._pid, self._owner = os.getpid(), new_owner()
        return self._owner
