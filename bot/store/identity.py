"""The bot's last known Slack identity: what ``auth.test`` said for its token, kept so that a
start while Slack is unreachable serves at once (bot/slack/identity.py).

One row per token, keyed by the token's SHA-256; a new answer replaces the rows of every other
token, so the table holds one row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from bot.store import clock
from bot.store.engine import Database
from bot.store.errors import StoreConflict
from bot.store.schema import slack_identity


class KeptIdentity:
    """``Store``'s last identity (``Store`` sets ``_db``)."""

    _db: Database

    def last_identity(self, token_sha256: str) -> dict[str, Any] | None:
        """What auth.test last answered for this token, or None when it never did."""
        with self._db.connect() as conn:
            row = conn.execute(
                select(slack_identity.c.auth_test).where(
                    slack_identity.c.token_sha256 == token_sha256
                )
            ).first()
        if row is None or not isinstance(row.auth_test, dict):
            return None
        return dict(row.auth_test)

    def keep_identity(self, token_sha256: str, auth_test: dict[str, Any]) -> None:
        try:
            with self._db.begin() as conn:
                conn.execute(
                    delete(slack_identity).where(slack_identity.c.token_sha256 != token_sha256)
                )
                values = {"auth_test": auth_test, "checked_at": clock.now()}
                done = conn.execute(
                    update(slack_identity)
                    .where(slack_identity.c.token_sha256 == token_sha256)
                    .values(**values)
                )
                if not done.rowcount:
                    conn.execute(insert(slack_identity).values(token_sha256=token_sha256, **values))
        except StoreConflict:
            pass  # another process kept the same answer at the same moment
