"""The request journal: every request acknowledged is written down before its ack, so that no
crash, deploy or lost machine loses it.

A request is acknowledged in milliseconds and done on the worker pool, seconds later when
Airflow is slow. In between it lives only in this process's memory, so a worker killed by the
kernel (the OOM killer, a segfault), a deploy's SIGTERM or a lost machine would lose it. So:

- Before the ack, the request as Slack sent it is appended to this process's file on local
  disk, one line and one ``write()``: it reaches the page cache, which outlives the process
  (no fsync: a crash of the process, not of the kernel, is what this is for). Its start of a
  write to Airflow and its end are appended too.
- Every 100 ms a thread moves what is new to the store (bot/store/journal.py), leased to this
  process, a request done within that time never reaching it; so another machine can take
  over after this one is lost, losing at most the last 100 ms.
- Each process holds a lock on its file while it lives. The process gunicorn starts in place
  of a dead one, or any other process on the machine, finds a file nobody holds, frees in the
  store what it says was not done, and removes it.
- A process told to stop releases the requests it has not started at once, and those still
  running after the grace period unless they may have sent Airflow a write; the next process
  takes them from the store within a second.

Carried on elsewhere, a request is run again from its start, as if Slack had just sent it.
It does the same thing again, so what it says is said once: each message it sends has a key
made from the request and its place among the request's messages (bot/slack/outbox.py records
a key once). Reads are simply asked again. A write is not: a request whose process may have
sent one is not sent it again and says so in its thread (``AirflowOutcomeUnknown``), and a
request released by a stopping process says nothing more there and sends no write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot.airflow import AirflowOutcomeUnknown, writes
from bot.core.loop import Loop
from bot.store import JournaledRequest, Store, StoreError, clock

log = logging.getLogger(__name__)

FLUSH_S = 0.1  # how often what is new moves to the store: what a lost machine may lose
RENEW_S = 5.0
LEASE_S = 20.0  # a request of a process not heard from for this long is another's to take
SCAN_S = 1.0  # how often the files of dead processes on this machine are looked for
SUFFIX = ".journal"
ROTATE_BYTES = 16 * 1024 * 1024  # then a new file, holding only what is still owed
Raw = tuple[str, Mapping[str, Sequence[str]]]


@dataclass
class _Open:
    """A request accepted by this process and not done."""

    entry: JournaledRequest
    wrote: bool = False  # a write may have been sent to Airflow
    released: bool = False  # handed to another process: this one says and sends nothing more


@dataclass
class Scope:
    """The request a worker thread is carrying out: its messages' keys, and whether it may
    still speak (bot/slack/outbox.py asks)."""

    base: str
    muted: Callable[[], bool]
    sent: int = field(default=0)

    def next_key(self) -> str:
        self.sent += 1
        return f"rq:{self.base}:{self.sent}"


_thread = threading.local()


def current_scope() -> Scope | None:
    return getattr(_thread, "scope", None)


def request_key(signature: str | None, raw: Raw) -> str:
    """What makes a request run once, whichever process runs it: Slack's signature, or for a
    Socket Mode request (which has none) its body's digest."""
    return signature or "sm=" + hashlib.sha256(raw[0].encode()).hexdigest()


class RequestJournal:
    def __init__(self, store: Store, directory: Path, owner: Callable[[], str]) -> None:
        self._store = store
        self._dir = directory
        self._owner = owner  # read each time: gunicorn forks the process that built this
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0  # bytes written to the file: past ROTATE_BYTES it starts anew
        self._open: dict[str, _Open] = {}
        self._new: list[tuple[str, str]] = []  # (kind, key) not in the store yet, in order
        self._said_at = -60.0
        self._renewed = self._scanned = 0.0  # monotonic: when the leases were renewed, the
        # folder scanned (never yet: the first round does both)
        self._loop = Loop("chatops-journal", self._round, interval=FLUSH_S, first_wait=FLUSH_S,
                          what="the request journal", on_store_error=self._store_failed,
                          unexpected="request journal: unexpected error",
                          join_seconds=2)  # fmt: skip

    # -- the process's own file ---------------------------------------------------------------

    def start(self) -> None:
        """Open this process's file and start moving it to the store; in each serving
        process, after gunicorn forks it."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd, self._path = self._new_file()
        self._renewed = self._scanned = 0.0
        self._loop.start()

    def _new_file(self) -> tuple[int, Path]:
        owner = self._owner()
        name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', owner)}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self._dir / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while this process lives
        header = _line({"o": owner})
        os.write(fd, header)
        self._size = len(header)
        return fd, path

    def _rotate(self) -> None:
        """A long-lived process's file would grow without end: past ROTATE_BYTES, a new file
        takes what is still owed, and the old one goes."""
        with self._lock:
            if self._fd is None or self._size < ROTATE_BYTES:
                return
            old_fd, old_path = self._fd, self._path
            fd, path = self._new_file()
            owed = []
            for key, state in self._open.items():
                if state.released:
                    continue
                e = state.entry
                owed.append(_line({"a": key, "b": e.body, "h": e.headers,
                                   "t": e.received_at.timestamp()}))  # fmt: skip
                if state.wrote:
                    owed.append(_line({"w": key}))
            self._write_to(fd, b"".join(owed))
            self._fd, self._path = fd, path
            if old_path is not None:
                old_path.unlink(missing_ok=True)
            os.close(old_fd)

    def _write(self, data: bytes) -> None:
        """Lock held."""
        if self._fd is not None:
            self._write_to(self._fd, data)

    def _write_to(self, fd: int, data: bytes) -> None:
        os.write(fd, data)
        self._size += len(data)

    def holds(self, key: str) -> bool:
        """Whether this process is doing the request already."""
        with self._lock:
            return key in self._open

    @property
    def started(self) -> bool:
        return self._fd is not None

    def accepted(self, key: str, raw: Raw) -> bool:
        """Before the ack: the request is written down. False if it was already (a request
        carried on from another process, accepted once more here)."""
        if self._fd is None:
            return False
        body, headers = raw
        entry = JournaledRequest(key, body, headers, received_at=clock.now())
        line = _line({"a": key, "b": body, "h": headers, "t": time.time()})
        with self._lock:
            if key in self._open:
                return False
            self._open[key] = _Open(entry)
            self._write(line)
            self._new.append(("a", key))
        return True

    @contextlib.contextmanager
    def running(self, key: str, *, wrote_before: bool = False) -> Iterator[None]:
        """Around a worker's run of the request: its messages' keys, the hook on its writes,
        and at its end, done."""

        def before_write() -> None:
            self._before_write(key, wrote_before)

        _thread.scope = Scope(hashlib.sha256(key.encode()).hexdigest()[:32], self._muted(key))
        writes.install(before_write)
        try:
            yield
        finally:
            writes.install(None)
            _thread.scope = None
            self._done(key)

    def _muted(self, key: str) -> Callable[[], bool]:
        def muted() -> bool:
            state = self._open.get(key)
            return state is not None and state.released

        return muted

    def _before_write(self, key: str, wrote_before: bool) -> None:
        if wrote_before:
            raise AirflowOutcomeUnknown(
                "a write of this request was sent to Airflow before the bot restarted"
            )
        with self._lock:
            state = self._open.get(key)
            if state is None or self._fd is None:
                return
            if state.released:
                raise AirflowOutcomeUnknown("this request was handed over to another process")
            if state.wrote:
                return
            state.wrote = True
            self._write(_line({"w": key}))
            self._new.append(("w", key))
        # Now, not in the next 100 ms: another machine must know before Airflow may act.
        self.flush()

    def _done(self, key: str) -> None:
        with self._lock:
            state = self._open.pop(key, None)
            if state is None or self._fd is None or state.released:
                return  # released: the process carrying it on says when it is done
            self._write(_line({"d": key}))
            self._new.append(("d", key))

    def not_submitted(self, key: str) -> None:
        """The pool refused it (too busy): the asker is told so, nothing more is owed."""
        self._done(key)

    # -- moving to the store --------------------------------------------------------------------

    @property
    def moving(self) -> bool:
        """Whether something written down is not in the store yet, or on its way there."""
        with self._lock:
            return bool(self._new) or self._flushing.locked()

    def flush(self) -> bool:
        """Move what is new to the store; False if the store failed (it is tried again)."""
        with self._flushing:
            with self._lock:
                batch, self._new = self._new, []
                entries = {k: s.entry for k, s in self._open.items()}
            if not batch:
                return True
            try:
                self._store.journal_requests(self._owner(), lease_seconds=LEASE_S,
                                             **_net(batch, entries))  # fmt: skip
            except StoreError as exc:
                with self._lock:
                    self._new[:0] = batch
                self._say(f"the request journal could not reach the state store: {exc.kind}")
                return False
            return True

    def release(self, keys: Sequence[str] | None = None) -> int:
        """Hand requests to whichever process looks next: ``keys`` (taken out of the pool
        before they started), or with None every one still running that sent no write.
        Returns how many."""
        with self._lock:
            chosen = [
                k
                for k, s in self._open.items()
                if (keys is None or k in keys) and not s.wrote and not s.released
            ]
            for k in chosen:
                self._open[k].released = True  # from now on it says and sends nothing here
        if not chosen:
            return 0
        try:
            if self.flush():
                self._store.release_journaled(self._owner(), chosen)
        except StoreError as exc:
            # Leased to this process: another takes them once the lease lapses, or at once
            # from this file, when this process is gone.
            log.warning("%d requests wait for this process's lease to lapse: the state store "
                        "failed (%s)", len(chosen), exc.kind)  # fmt: skip
            return len(chosen)
        with self._lock:
            self._write(b"".join(_line({"r": k}) for k in chosen))
        return len(chosen)

    def close(self) -> None:
        """Stop moving; remove the file when nothing in it is owed any more."""
        self._loop.stop()
        flushed = self.flush()
        with self._lock:
            owed = any(not s.released for s in self._open.values())
            fd, self._fd = self._fd, None
        if fd is None:
            return
        if flushed and not owed and self._path is not None:
            self._path.unlink(missing_ok=True)
        os.close(fd)

    def _round(self) -> None:
        """Every FLUSH_S: what is new to the store; now and then the leases renewed and the
        files of dead processes looked for."""
        self.flush()  # a store that failed is said, and tried again next round
        now = time.monotonic()
        self._rotate()
        if now - self._renewed >= RENEW_S and self._open:
            self._renewed = now
            self._store.renew_journaled(self._owner(), lease_seconds=LEASE_S)
        if now - self._scanned >= SCAN_S:
            self._scanned = now
            self.recover()

    def _store_failed(self, exc: StoreError) -> None:
        self._say(f"the request journal: the state store failed: {exc.kind}")

    def _say(self, text: str) -> None:
        if time.monotonic() - self._said_at >= 60:  # once a minute while it lasts
            self._said_at = time.monotonic()
            log.warning(text)

    # -- the files of dead processes ------------------------------------------------------------

    def recover(self) -> int:
        """Free in the store what the files of dead processes on this machine say they had
        not done, and remove those files; returns how many requests."""
        freed = 0
        try:
            paths = sorted(self._dir.glob(f"*{SUFFIX}"))
        except OSError:
            return 0
        for path in paths:
            if path != self._path:
                freed += self._recover_file(path)
        return freed

    def _recover_file(self, path: Path) -> int:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its process is alive
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    return 0  # recovered and removed by another process meanwhile
            except FileNotFoundError:
                return 0
            with os.fdopen(os.dup(fd), "rb") as f:
                owner, owed = read_journal(f.read())
            self._store.free_journaled(owner, [_stored(e) for e in owed])
            path.unlink()
            if owed:
                log.info("carried on with %d requests of a process that died: %s",
                         len(owed), owner)  # fmt: skip
            return len(owed)
        finally:
            os.close(fd)


def read_journal(data: bytes) -> tuple[str, list[JournaledRequest]]:
    """A journal file's owner, and the requests it accepted and neither did nor released."""
    owner = ""
    owed: dict[str, JournaledRequest] = {}
    wrote: set[str] = set()
    for raw_line in data.splitlines():
        try:
            record = json.loads(raw_line)
        except ValueError:
            continue  # the last line, torn by the crash: its request was not acknowledged
        if "o" in record:
            owner = str(record["o"])
        elif "a" in record:
            at = datetime.fromtimestamp(float(record["t"]), UTC)
            owed[record["a"]] = JournaledRequest(record["a"], record["b"], record["h"], at)
        elif "w" in record:
            wrote.add(record["w"])
        else:
            owed.pop(record.get("d") or record.get("r"), None)
    return owner, [
        JournaledRequest(e.key, e.body, e.headers, e.received_at, wrote=e.key in wrote)
        for e in owed.values()
    ]


def _net(
    batch: Sequence[tuple[str, str]], entries: Mapping[str, JournaledRequest]
) -> dict[str, Any]:
    """A batch as the store takes it: a request accepted and done within it never goes."""
    done_now = {k for kind, k in batch if kind == "d"}
    accepted_now = {k for kind, k in batch if kind == "a"}
    accepted = [
        _stored(entries[k]) for kind, k in batch if kind == "a" and k in entries
    ]  # still open, so not done
    return {
        "accepted": accepted,
        "wrote": [k for kind, k in batch if kind == "w" and k not in done_now],
        "done": [k for k in done_now if k not in accepted_now],
    }


def _stored(entry: JournaledRequest) -> JournaledRequest:
    return JournaledRequest(
        entry.key, without_token(entry.body), entry.headers, entry.received_at, entry.wrote
    )


def without_token(body: str) -> str:
    """The body without Slack's legacy verification token (form field ``token``, and
    ``token`` in an interaction's JSON ``payload``): nothing reads it, and the store keeps a
    journaled request for a day."""
    if body.startswith("{"):  # Socket Mode's JSON payload
        data = json.loads(body)
        data.pop("token", None)
        return json.dumps(data)
    fields = []
    for name, value in parse_qsl(body, keep_blank_values=True):
        if name == "token":
            continue
        if name == "payload" and value.startswith("{"):
            data = json.loads(value)
            data.pop("token", None)
            value = json.dumps(data)
        fields.append((name, value))
    return urlencode(fields)


def _line(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()
