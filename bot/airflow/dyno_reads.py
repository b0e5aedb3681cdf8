"""Identical reads in flight shared between the processes gunicorn forks, not only within one.

``bot.airflow.sharing`` shares a read among one process's threads. With two processes, each
would still send its own: 500 statuses over 50 DAGs made 293 calls with two processes against
150 with one, and answered in 98 s against 52 s. Here the thread that leads a read in its
process first looks in the dyno's directory (``bot.airflow.dyno``, made before the fork) for
the same read led by another process:

- A flight is a file named for the read (a digest of method, URL, parameters and body), made
  under a temporary name, locked (``flock``, exclusive) and then linked to its name, so it is
  never seen unlocked while its leader lives. It holds a random token naming this flight.
- Another process's leader for the same read opens it and waits for a shared lock, which it
  gets when the leader is done, or dead (the kernel drops a dead process's locks). It then
  reads the answer the leader left under the token: Airflow's status and body, or the
  ``AirflowError`` it raised (a few known fields, never code). No answer (the leader died, or
  failed otherwise): it looks again, and leads or joins a new flight.
- The leader publishes its answer before it unlinks the flight and unlocks it; a read asked
  after that starts a flight of its own. Answers are deleted a minute later: nothing is read
  from them but by the flight's own followers, so this is no cache.

The table belongs to one deployment's client, made in the master: one deployment, one
credential. Files are private to the bot's user (the directory is 0700).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from bot.airflow import errors, waits
from bot.airflow.errors import AirflowError, AirflowRateLimited

ANSWER_SECONDS = 60.0
"""How long an answer is kept for followers slow to wake (then swept)."""
ATTEMPTS = 3
"""Flights joined whose leader left no answer, before sending the read itself."""
_KINDS = {
    kind.__name__: kind
    for kind in (
        errors.AirflowError,
        errors.AirflowNotFound,
        errors.AirflowConflict,
        errors.AirflowNotAllowed,
        errors.AirflowBadRequest,
        errors.AirflowUnavailable,
        errors.AirflowRateLimited,
    )
}


class DynoReads:
    """One deployment's reads in flight across the processes forked after it was made."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self._swept = 0.0
        self._sweep_lock = threading.Lock()

    def share(
        self, read: tuple[Any, ...], fetch: Callable[[], requests.Response]
    ) -> requests.Response:
        """``fetch()``'s answer: sent here, or the one another process has in flight."""
        name = hashlib.sha256(json.dumps(read, default=str).encode()).hexdigest()[:40]
        for _ in range(ATTEMPTS):
            leading = self._lead(name)
            if leading is not None:
                return self._send(name, *leading, fetch)
            joined = self._join(name)
            if joined is not None:
                return joined
        return fetch()

    # -- leading ----------------------------------------------------------------------------

    def _lead(self, name: str) -> tuple[int, str] | None:
        """The flight's locked file and token if this process now leads it; None if another
        does."""
        fd, temp = tempfile.mkstemp(dir=self._dir, suffix=".tmp")
        token = secrets.token_hex(8)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, token.encode())
            os.link(temp, self._dir / name)  # fails if the name exists: one leader
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, FileExistsError):
                return None
            raise
        finally:
            os.unlink(temp)
        return fd, token

    def _send(
        self, name: str, fd: int, token: str, fetch: Callable[[], requests.Response]
    ) -> requests.Response:
        try:
            resp = fetch()
        except AirflowError as exc:
            self._publish(token, {"error": _error_fields(exc)}, b"")
            raise
        else:
            meta = {"status": resp.status_code, "content_type": resp.headers.get("Content-Type")}
            self._publish(token, meta, resp.content)
            return resp
        finally:
            # Unlinked first: a read asked from now on is a new flight. Unlocked then: the
            # followers wake and read the answer.
            self._unlink_if(name, fd)
            os.close(fd)

    def _publish(self, token: str, meta: dict[str, Any], body: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=self._dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(meta).encode() + b"\n" + body)
        os.replace(temp, self._dir / f"{token}.answer")
        self._sweep()

    # -- following --------------------------------------------------------------------------

    def _join(self, name: str) -> requests.Response | None:
        """The answer of the flight under ``name``; None if there is none to join, or its
        leader left no answer."""
        try:
            fd = os.open(self._dir / name, os.O_RDONLY)
        except FileNotFoundError:
            return None  # just ended: lead a new one
        try:
            token = os.read(fd, 64).decode()
            with waits.aside():
                fcntl.flock(fd, fcntl.LOCK_SH)  # the leader is done, or dead
            answer = self._answer(token)
            if answer is None:
                self._unlink_if(name, fd)  # a dead leader's: out of the way
            return answer
        finally:
            os.close(fd)

    def _answer(self, token: str) -> requests.Response | None:
        try:
            raw = (self._dir / f"{token}.answer").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        head, _, body = raw.partition(b"\n")
        meta = json.loads(head)
        if "error" in meta:
            raise _error_from(meta["error"])
        resp = requests.Response()
        resp.status_code = int(meta["status"])
        resp._content = body
        resp.headers = CaseInsensitiveDict()
        if meta.get("content_type"):
            resp.headers["Content-Type"] = meta["content_type"]
        return resp

    # -- housekeeping -----------------------------------------------------------------------

    def _unlink_if(self, name: str, fd: int) -> None:
        """Remove the flight's name if it is still this file's (not a newer flight's)."""
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self._dir / name).st_ino == os.fstat(fd).st_ino:
                os.unlink(self._dir / name)

    def _sweep(self) -> None:
        """Delete answers (and a crashed leader's temporary files) older than ANSWER_SECONDS;
        at most once a second per process."""
        now = time.time()
        with self._sweep_lock:
            if now - self._swept < 1.0:
                return
            self._swept = now
        for entry in os.scandir(self._dir):
            if entry.name.endswith((".answer", ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime > ANSWER_SECONDS:
                        os.unlink(entry.path)


def _error_fields(exc: AirflowError) -> dict[str, Any]:
    return {
        "kind": type(exc).__name__,
        "message": exc.message,
        "status": exc.status,
        "deployment": exc.deployment,
        "retry_after": getattr(exc, "retry_after", None),
    }


def _error_from(fields: dict[str, Any]) -> AirflowError:
    kind = _KINDS.get(str(fields.get("kind")), AirflowError)
    message, deployment = str(fields.get("message", "")), str(fields.get("deployment", ""))
    if kind is AirflowRateLimited:
        return AirflowRateLimited(
            message, retry_after=fields.get("retry_after"), deployment=deployment
        )
    return kind(message, status=fields.get("status"), deployment=deployment)
