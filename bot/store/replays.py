"""Replayed requests: the signatures of the requests already served.

Slack signs a request once, so the same signature again is a replay (or a duplicate
delivery) and must not act twice. The primary key makes the check and the record one
INSERT, so it holds across every process on the store; retention drops a signature once the
request's timestamp alone would refuse it.
"""

from __future__ import annotations

from sqlalchemy import insert

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import seen_request


class SeenRequests:
    """``Store``'s replay check (``Store`` sets ``_db``)."""

    _db: Database

    def first_time(self, signature: str) -> bool:
        """True the first time a request signature is seen (in any process on this store)."""
        try:
            with self._db.begin() as conn:
                conn.execute(insert(seen_request).values(signature=signature[:80], at=clock.now()))
        except StoreConflict:
            return False
        return True
