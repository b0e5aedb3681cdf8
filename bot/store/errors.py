"""The store's own errors: what the rest of the bot catches, whatever the database library.

Every public method of ``Store`` raises these and nothing of SQLAlchemy's, so a caller outside
``bot/store`` names no database library. The error's message is the underlying one's, and
``kind`` names the underlying error's type (``OperationalError``): what the bot has always
logged and shown to operators.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import exc as sa

# Errors that mean the database could not be reached or gave up on the statement (a server
# down, a wrong password, a dropped connection, a locked SQLite file, a full pool).
_UNAVAILABLE = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError)


class StoreError(Exception):
    """The store failed. ``kind``: the type name of the error underneath, for messages."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class StoreUnavailable(StoreError):
    """The database could not be reached, or failed while reached: trying later may work."""


class StoreConflict(StoreError):
    """A row the store keeps once is there already (another process wrote it first)."""


class StoreURLError(StoreError, ValueError):
    """``DATABASE_URL`` is not a database URL."""


def translated(error: sa.SQLAlchemyError) -> StoreError:
    """The store's error for one of SQLAlchemy's."""
    message, kind = str(error), type(error).__name__
    if isinstance(error, sa.IntegrityError):
        return StoreConflict(message, kind=kind)
    if isinstance(error, _UNAVAILABLE):
        return StoreUnavailable(message, kind=kind)
    return StoreError(message, kind=kind)


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Around every use of the database: SQLAlchemy's errors leave as the store's own."""
    try:
        yield
    except sa.SQLAlchemyError as error:
        raise translated(error) from error
