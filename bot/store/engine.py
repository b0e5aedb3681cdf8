"""Making the store's engine, and the one way the table families use it.

The same code runs on a SQLite file (the default: nothing to set up) and on PostgreSQL
(``DATABASE_URL``, which Heroku sets in its ``postgres://`` form). PostgreSQL needs only a
pool; SQLite needs its transactions, locking and journal set up here so that several threads
and processes can share one file without "database is locked" errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from bot.store.errors import StoreURLError, store_errors

# Long enough to wait out another process's migration or a burst of writers, short enough
# that a stuck database surfaces as an error rather than a hung command.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalise_url(database_url: str) -> URL:
    """The SQLAlchemy URL for ``database_url``: Heroku's ``postgres://`` and a bare
    ``postgresql://`` both mean PostgreSQL through psycopg 3, the driver installed."""
    url = parsed_url(database_url)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def parsed_url(database_url: str) -> URL:
    """``database_url`` as SQLAlchemy reads it, as given; :class:`StoreURLError` (a
    ``ValueError``) when it is not a database URL."""
    try:
        return make_url(database_url)
    except (ArgumentError, ValueError) as error:
        raise StoreURLError(str(error), kind=type(error).__name__) from error


def shown_url(database_url: str) -> str:
    """The URL with its password hidden (``***``): what messages and logs may show."""
    return parsed_url(database_url).render_as_string(hide_password=True)


def url_password(database_url: str) -> str | None:
    """The URL's password, if it has one: a secret the logs must never show."""
    return parsed_url(database_url).password


def sqlite_file(database_url: str) -> str | None:
    """The path of the SQLite file the URL names; None for a server or an in-memory one."""
    url = parsed_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def engine_for(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # pre_ping: a database restarted or failed over (Heroku maintenance) costs a reconnect,
    # not a failed command. hide_parameters: values (conf, texts) stay out of error messages.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         hide_parameters=True)  # fmt: skip


class Database:
    """The engine as the table families use it: a transaction (``begin``) or a read
    (``connect``), never the engine itself, so that every use takes its turn where it must."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # An in-memory SQLite database is one connection that every thread shares: its
        # transactions must take turns, where a file's or a server's connections queue by
        # themselves.
        self._turns: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if _in_memory(engine.url) else contextlib.nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # Both translate SQLAlchemy's errors into the store's (bot/store/errors.py), after the
    # transaction is rolled back and the connection returned: the one place they are caught.

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        with store_errors(), self._turns, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with store_errors(), self._turns, self.engine.connect() as conn:
            yield conn


def _sqlite_engine(url: URL) -> Engine:
    in_memory = _in_memory(url)
    engine = create_engine(
        url,
        hide_parameters=True,
        # An in-memory database exists once per connection: every thread must share one.
        poolclass=StaticPool if in_memory else None,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN (below) start transactions, not the sqlite3 module.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not in_memory:
            # Readers do not block the writer, and a commit is one append to the WAL.
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock up front: a read-then-write transaction (migrate) could
        # otherwise fail with "database is locked" instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so). Switching needs the file to itself, and SQLite
    answers "database is locked" at once, without its busy wait, while another connection is
    in a transaction: so several processes starting on a new file at once try again."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _in_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
