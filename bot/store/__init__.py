"""The state store: the audit trail, stored actions, followed runs and seen requests.

One small interface over SQLAlchemy Core, which no module outside ``bot/store`` imports, so the
same code runs on a SQLite file (the default: nothing to set up) and on PostgreSQL
(``DATABASE_URL``, which Heroku sets in its ``postgres://`` form). The schema is versioned:
``migrate()`` applies the steps a database has not had yet, in order, and is safe to run from
several processes at once.

``Store`` is the one thing the rest of the bot holds. It owns the engine (engine.py) and the
schema (schema.py); its other methods come from one class per table family, each in the
module that owns that table: audit.py, actions.py, follows.py, replays.py, subscriptions.py,
watches.py, outbox.py, journal.py, identity.py, and retention.py.
Apart from retention, which prunes every table, no family touches another's table, so each
module reads on its own.

The core's services hold none of it: each takes a small ``typing.Protocol`` naming the methods
it calls, defined in the module of the table family those methods belong to (``FollowsTable``
in follows.py, ``ActionIssuer`` in actions.py, ...); a service that uses several families
combines their protocols in its own module, adding no method. ``Store`` satisfies them all.

Its methods raise the store's own errors (errors.py): :class:`StoreError`, and
:class:`StoreUnavailable` when the database could not be reached; the URL helpers
(``shown_url``, ``url_password``, ``sqlite_file``) raise :class:`StoreURLError`.
"""

from __future__ import annotations

from bot.store import schema
from bot.store.actions import (
    ActionClaims,
    ActionDecisions,
    ActionIssuer,
    ActionLookup,
    NewAction,
    PendingAction,
    StoredActions,
)
from bot.store.audit import AuditEntry, AuditTrail, AuditWriter
from bot.store.dag_history import DagHistories, DagHistory, DagHistoryTable, Success
from bot.store.engine import (
    Database,
    engine_for,
    normalise_url,
    shown_url,
    sqlite_file,
    url_password,
)
from bot.store.errors import (
    StoreConflict,
    StoreError,
    StoreUnavailable,
    StoreURLError,
    store_errors,
)
from bot.store.follows import Follow, FollowedRuns, FollowsTable
from bot.store.identity import KeptIdentity
from bot.store.journal import JournaledRequest, JournaledRequests
from bot.store.outbox import HandedOver, Outbox, OutboxRow
from bot.store.replays import SeenRequests
from bot.store.retention import Pruner, Pruning, Retention
from bot.store.schema import MIGRATIONS, schema_version
from bot.store.subscriptions import StoredSubscription, Subscriptions, SubscriptionsTable
from bot.store.watches import (
    HitlEvents,
    IncidentAcks,
    IncidentRows,
    Incidents,
    NewEvent,
    OwedEvent,
    Watches,
    WatchesTable,
    WatchState,
    WatchStates,
)


class Store(
    AuditTrail,
    StoredActions,
    FollowedRuns,
    SeenRequests,
    Subscriptions,
    Watches,
    DagHistoryTable,
    Outbox,
    JournaledRequests,
    KeptIdentity,
    Pruning,
):
    def __init__(self, database_url: str) -> None:
        with store_errors():
            self.url = normalise_url(database_url)
            self._engine = engine_for(self.url)
        self._db = Database(self._engine)

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def close(self) -> None:
        with store_errors():
            self._engine.dispose()

    def schema_version(self) -> int:
        return schema.installed_version(self._db)

    def migrate(self) -> int:
        """Apply every migration step the database lacks; returns the version now in place.

        Steps and the version row commit together, and concurrent callers are serialised (a
        PostgreSQL advisory lock; SQLite's write lock), so each step runs exactly once.
        """
        return schema.migrate(self._db)


__all__ = [
    "MIGRATIONS",
    "ActionClaims",
    "ActionDecisions",
    "ActionIssuer",
    "ActionLookup",
    "AuditEntry",
    "AuditWriter",
    "DagHistories",
    "DagHistory",
    "Follow",
    "FollowsTable",
    "HandedOver",
    "HitlEvents",
    "IncidentAcks",
    "IncidentRows",
    "Incidents",
    "JournaledRequest",
    "NewAction",
    "NewEvent",
    "OutboxRow",
    "OwedEvent",
    "PendingAction",
    "Pruner",
    "Retention",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreURLError",
    "StoreUnavailable",
    "StoredSubscription",
    "SubscriptionsTable",
    "Success",
    "WatchState",
    "WatchStates",
    "WatchesTable",
    "normalise_url",
    "schema_version",
    "shown_url",
    "sqlite_file",
    "url_password",
]
