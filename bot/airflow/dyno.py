"""What the processes gunicorn forks from one master share: a directory made before the fork.

With ``preload_app`` the bot is built once, in gunicorn's master; every worker is forked from
it and inherits the paths made then. The deployments' budgets (``bot.airflow.budget``) and the
reads in flight between processes (``bot.airflow.dyno_reads``) keep their files here, one name
per deployment's client. Made private to the bot's user (``mkdtemp``: mode 0700), removed when
the process that made it exits; a master killed outright leaves a few empty files in the
system's temporary directory.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path

_directory: Path | None = None
_lock = threading.Lock()
_serial = itertools.count()


def directory() -> Path:
    """This process's directory for what its forked children share (made on first use)."""
    global _directory
    with _lock:
        if _directory is None:
            made = Path(tempfile.mkdtemp(prefix="chatops-dyno-"))
            owner = os.getpid()

            def remove() -> None:
                # Forked children run the atexit handlers they inherited: only the maker removes.
                if os.getpid() == owner:
                    shutil.rmtree(made, ignore_errors=True)

            atexit.register(remove)
            _directory = made
        return _directory


def file_name(deployment: str) -> str:
    """A safe, unique file name for a deployment's files here (names come from the config;
    numbered, so two names that read the same here still get files of their own)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in deployment)
    return f"{next(_serial)}-{safe}"
