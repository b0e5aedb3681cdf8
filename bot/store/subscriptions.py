"""Subscriptions made in Slack: a channel watches a deployment's DAGs matching a glob, for some
events, with the limits of those that take one (``options``, JSON: bot/config/times.py). One row
per (channel, deployment, glob): subscribing again changes its events and their limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update

from bot.config import WatchOptions
from bot.config.times import options_from_json, options_to_json
from bot.store import clock
from bot.store.engine import Database
from bot.store.schema import subscription


@dataclass(frozen=True)
class StoredSubscription:
    channel_id: str
    deployment: str
    dag_glob: str
    events: frozenset[str]
    created_by: str
    created_at: datetime
    starts_after: datetime | None  # the deployment's watermark when it was made
    options: WatchOptions = field(default_factory=WatchOptions)  # limits of long, queued, late


class SubscriptionsTable(Protocol):
    """The subscriptions made in channels, as the book keeps them (bot/core/subscriptions.py)."""

    def subscribe(
        self,
        *,
        channel_id: str,
        deployment: str,
        dag_glob: str,
        events: frozenset[str],
        options: WatchOptions,
        user_id: str,
        starts_after: datetime | None,
    ) -> bool: ...

    def unsubscribe(self, *, channel_id: str, deployment: str, dag_glob: str) -> bool: ...

    def subscriptions(
        self, *, channel_id: str | None = ..., deployment: str | None = ...
    ) -> list[StoredSubscription]: ...


class Subscriptions:
    """``Store``'s subscription methods (``Store`` sets ``_db``)."""

    _db: Database

    def subscribe(
        self,
        *,
        channel_id: str,
        deployment: str,
        dag_glob: str,
        events: frozenset[str],
        options: WatchOptions,
        user_id: str,
        starts_after: datetime | None,
    ) -> bool:
        """Add the subscription, or set the events and limits of the one there; True when it
        is new."""
        key = {"channel_id": channel_id, "deployment": deployment, "dag_glob": dag_glob}
        names = ",".join(sorted(events))
        limits = options_to_json(options)
        with self._db.begin() as conn:
            changed = conn.execute(
                update(subscription)
                .where(*(subscription.c[k] == v for k, v in key.items()))
                .values(events=names, options=limits)
            ).rowcount
            if changed:
                return False
            conn.execute(
                insert(subscription).values(
                    **key,
                    events=names,
                    options=limits,
                    created_by=user_id,
                    created_at=clock.now(),
                    starts_after=starts_after,
                )
            )
            return True

    def unsubscribe(self, *, channel_id: str, deployment: str, dag_glob: str) -> bool:
        with self._db.begin() as conn:
            return conn.execute(
                delete(subscription).where(
                    subscription.c.channel_id == channel_id,
                    subscription.c.deployment == deployment,
                    subscription.c.dag_glob == dag_glob,
                )
            ).rowcount == 1  # fmt: skip

    def subscriptions(
        self, *, channel_id: str | None = None, deployment: str | None = None
    ) -> list[StoredSubscription]:
        query = select(subscription).order_by(subscription.c.id)
        if channel_id is not None:
            query = query.where(subscription.c.channel_id == channel_id)
        if deployment is not None:
            query = query.where(subscription.c.deployment == deployment)
        with self._db.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_subscription(row) for row in rows]


def _subscription(row: Any) -> StoredSubscription:
    starts = row["starts_after"]
    return StoredSubscription(
        channel_id=row["channel_id"],
        deployment=row["deployment"],
        dag_glob=row["dag_glob"],
        events=frozenset(e for e in str(row["events"]).split(",") if e),
        created_by=row["created_by"],
        created_at=clock.utc(row["created_at"]),
        starts_after=clock.utc(starts) if starts is not None else None,
        options=options_from_json(row["options"]),
    )
