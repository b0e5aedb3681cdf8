"""What the processes gunicorn forks from one master share: a directory made before the fork.

With ``preload_app`` the bot is built once, in gunicorn's master; every worker is forked from
it and inherits the paths made then. The deployments' budgets (``bot.airflow.budget``) and the
reads in flight between processes (``bot.airflow.dyno_reads``) keep their files here, one name
per deployment's client. Made private to the bot's user (``mkdtemp``: mode 0700), removed when
the process that made it exits. A master killed outright cannot remove it: the next one made
on the machine removes those whose processes are all gone (each directory holds a lock that
the processes sharing it keep, and the kernel drops it when the last of them dies).
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path

PREFIX = "chatops-dyno-"
IN_USE = "in-use.lock"
_directory: Path | None = None
_lock = threading.Lock()
_serial = itertools.count()


def directory() -> Path:
    """This process's directory for what its forked children share (made on first use)."""
    global _directory
    with _lock:
        if _directory is None:
            _remove_abandoned()
            # Made under a hidden name and locked before it takes its name, so that no other
            # bot ever sees it unlocked. The lock stays open for the process's life, and in
            # every process forked from it (a fork copies open files).
            making = Path(tempfile.mkdtemp(prefix=f".{PREFIX}"))
            fd = os.open(making / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            made = making.with_name(making.name[1:])
            making.rename(made)
            owner = os.getpid()

            def remove() -> None:
                # Forked children run the atexit handlers they inherited: only the maker removes.
                if os.getpid() == owner:
                    shutil.rmtree(made, ignore_errors=True)

            atexit.register(remove)
            _directory = made
        return _directory


def _remove_abandoned() -> None:
    """Remove the directories of bots whose processes are all gone (killed outright)."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            fd = os.open(path / IN_USE, os.O_RDONLY)
        except OSError:
            continue  # not one of ours, or being made or removed right now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # in use
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


def file_name(deployment: str) -> str:
    """A safe, unique file name for a deployment's files here (names come from the config;
    numbered, so two names that read the same here still get files of their own)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in deployment)
    return f"{next(_serial)}-{safe}"
