"""Which channels watch which DAGs: the config's subscriptions and those made in Slack, as one
book the watch loop and the subscription verbs read.

A subscription made in Slack starts now: it records the deployment's watermark (the end date
of the last run the watch has read, on Airflow's clock), and only runs that end after it are
posted. One declared in the config cannot be removed from Slack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from fnmatch import fnmatchcase
from typing import Protocol

from bot.config import Config, WatchOptions
from bot.config.model import EVENTS, MIN_LONG_AFTER
from bot.config.times import show_deadline, show_duration
from bot.core.reply import code, escape
from bot.store import SubscriptionsTable, WatchStates

_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Watching:
    channel_id: str
    deployment: str
    dag_glob: str
    events: frozenset[str]
    declared: bool  # in the config file: only the file can remove it
    starts_after: datetime | None = None  # runs that ended at or before it are not posted
    created_by: str | None = None
    options: WatchOptions = field(default_factory=WatchOptions)  # limits of long, queued, late

    def wants(self, dag_id: str, event: str, ended: datetime) -> bool:
        return (
            event in self.events
            and fnmatchcase(dag_id, self.dag_glob)
            and (self.starts_after is None or ended > self.starts_after)
        )


class Change(Enum):
    ADDED = "added"
    UPDATED = "updated"  # the same DAGs, other events or limits
    REMOVED = "removed"
    DECLARED = "declared"  # in the config: left as it is
    NOT_FOUND = "not found"


class SubscriptionStore(SubscriptionsTable, WatchStates, Protocol):
    """The subscriptions made in channels, and where each deployment's watch has read to (a
    new subscription starts there)."""


class SubscriptionBook:
    def __init__(self, config: Config, store: SubscriptionStore) -> None:
        self._config = config
        self._store = store

    def of_channel(self, channel_id: str) -> list[Watching]:
        return [w for w in self._all() if w.channel_id == channel_id]

    def by_deployment(self) -> dict[str, list[Watching]]:
        """Every subscription, by the deployment it watches: one read of the store."""
        found: dict[str, list[Watching]] = {}
        for watching in self._all():
            found.setdefault(watching.deployment, []).append(watching)
        return found

    def subscribe(
        self,
        *,
        channel_id: str,
        deployment: str,
        dag_glob: str,
        events: frozenset[str],
        options: WatchOptions,
        user_id: str,
    ) -> Change:
        if self._declared(channel_id, deployment, dag_glob):
            return Change.DECLARED
        state = self._store.watch_state(deployment)
        added = self._store.subscribe(
            channel_id=channel_id,
            deployment=deployment,
            dag_glob=dag_glob,
            events=events,
            options=options,
            user_id=user_id,
            starts_after=state.watermark if state else None,
        )
        return Change.ADDED if added else Change.UPDATED

    def unsubscribe(self, *, channel_id: str, deployment: str, dag_glob: str) -> Change:
        if self._declared(channel_id, deployment, dag_glob):
            return Change.DECLARED
        removed = self._store.unsubscribe(
            channel_id=channel_id, deployment=deployment, dag_glob=dag_glob
        )
        return Change.REMOVED if removed else Change.NOT_FOUND

    def _declared(self, channel_id: str, deployment: str, dag_glob: str) -> bool:
        return any(
            (s.channel_id, s.deployment, s.dag_glob) == (channel_id, deployment, dag_glob)
            for s in self._config.subscriptions
        )

    def _all(self) -> list[Watching]:
        declared = [
            Watching(
                s.channel_id,
                s.deployment,
                s.dag_glob,
                s.events,
                declared=True,
                options=s.options,
            )
            for s in self._config.subscriptions
            if s.deployment in self._config.deployments
        ]
        made = [
            Watching(
                s.channel_id,
                s.deployment,
                s.dag_glob,
                s.events,
                declared=False,
                starts_after=s.starts_after,
                created_by=s.created_by,
                options=s.options,
            )
            for s in self._store.subscriptions()
            if s.deployment in self._config.deployments  # a deployment since removed: ignored
        ]
        return declared + made


def event_limits(events: frozenset[str], options: WatchOptions) -> list[str]:
    """Each event as the verbs show it, with its limit where it has one: ``long`` (over 30m),
    ``late`` (by 09:00 Europe/Berlin); in the order of ``EVENTS``."""
    shown = []
    for event in sorted(events, key=lambda e: (EVENTS.index(e) if e in EVENTS else len(EVENTS), e)):
        limit = _limit(event, options)
        shown.append(f"{code(event)} ({limit})" if limit else code(event))
    return shown


def _limit(event: str, options: WatchOptions) -> str | None:
    if event == "long":
        if options.long_after is None:
            floor = show_duration(MIN_LONG_AFTER)
            return f"twice the usual duration, at least {floor}; none for a DAG with no success yet"
        return f"over {show_duration(options.long_after)}"
    if event == "queued":
        return f"over {show_duration(options.queued_after)}"
    if event == "late":
        # The zone was checked against the zone database, but came from a user all the same.
        return f"by {escape(show_deadline(options.late))}" if options.late else None
    if event == "import_errors":
        return "DAG files matching the pattern"
    return None


def glob_within(glob: str, allowed: Sequence[str] | None) -> bool:
    """Whether every DAG id ``glob`` matches is one of ``allowed``'s (None: every DAG).

    Decided safely rather than fully: ``glob`` is within a pattern it equals, one that matches
    it as plain text when it has no wildcards, or one of the form ``prefix*`` when everything
    before its own first wildcard starts with that prefix (``etl_daily_*`` within ``etl_*``).
    Anything else is refused; the asker can subscribe to narrower patterns.
    """
    if allowed is None:
        return True
    head = _WILDCARD.split(glob, maxsplit=1)[0]
    plain = head == glob
    for pattern in allowed:
        if glob == pattern or (plain and fnmatchcase(glob, pattern)):
            return True
        prefix = pattern[:-1]
        if pattern.endswith("*") and not _WILDCARD.search(prefix) and head.startswith(prefix):
            return True
    return False
