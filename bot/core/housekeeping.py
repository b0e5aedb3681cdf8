"""Pruning the store on a schedule: what the bot no longer acts on does not pile up.

Every serving process runs one housekeeper; their deletes are idempotent, so several at once
only repeat a cheap statement. The audit trail is kept unless ``AUDIT_RETENTION_DAYS`` is set.
"""

from __future__ import annotations

import logging
import random
import threading

from bot.store import Retention, Store, StoreError

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 3600.0
# The first pass comes soon after start-up (a bot restarted daily still prunes), spread so
# that processes started together do not all delete at the same moment.
FIRST_PASS_SECONDS = (30.0, 300.0)


class Housekeeper:
    def __init__(
        self, store: Store, rules: Retention, *, interval_seconds: float = INTERVAL_SECONDS
    ) -> None:
        self._store = store
        self._rules = rules
        self._interval = interval_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopped.clear()
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

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

    def _loop(self) -> None:
        wait = random.uniform(*FIRST_PASS_SECONDS)  # noqa: S311 - spreading, not secrecy
        while not self._stopped.wait(wait):
            self.prune()
            wait = self._interval
