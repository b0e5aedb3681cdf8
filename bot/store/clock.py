"""The store's time: aware UTC datetimes in, and aware UTC datetimes out.

Every table family stamps rows with ``now()`` and reads them back through ``utc()``, so that
a datetime compares the same whichever database kept it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    # SQLite keeps no zone: what was written is UTC (see begin_audit), so say so on the way out.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
