"""Pruning the store on a schedule: what the bot no longer acts on does not pile up.

Every serving process runs one housekeeper; their deletes are idempotent, so several at once
only repeat a cheap statement. The audit trail is kept unless ``AUDIT_RETENTION_DAYS`` is set.
"""

from __future__ import annotations

import logging

from bot.core.loop import Loop
from bot.store import Pruner, Retention, StoreError

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 3600.0
# The first pass comes soon after start-up (a bot restarted daily still prunes), spread so
# that processes started together do not all delete at the same moment.
FIRST_PASS_SECONDS = (30.0, 300.0)


class Housekeeper:
    def __init__(
        self, store: Pruner, rules: Retention, *, interval_seconds: float = INTERVAL_SECONDS
    ) -> None:
        self._store = store
        self._rules = rules
        first, last = FIRST_PASS_SECONDS
        self._loop = Loop("housekeeping", self.prune, interval=interval_seconds,
                          what="pruning the state store", first_wait=first,
                          jitter=last - first)  # fmt: skip

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def prune(self) -> dict[str, int]:
        """One pass; returns the rows deleted by table (nothing when the store failed)."""
        try:
            deleted = self._store.prune(self._rules)
        except StoreError as exc:
            log.warning("pruning the state store failed: %s; next try later", exc.kind)
            return {}
        if any(deleted.values()):
            log.info("state store pruned: %s", ", ".join(f"{t} {n}" for t, n in deleted.items()))
        return deleted
