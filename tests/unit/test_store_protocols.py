"""The core's services each take a small protocol of the store (bot/store/*.py): the one
``Store`` satisfies every one of them. mypy checks the assignments below; the test checks that
each protocol names only methods ``Store`` has, so none drifts from the table it stands for."""

from __future__ import annotations

import inspect
from typing import Protocol

import bot.store
from bot.core.approvals import ApprovalStore
from bot.core.follower import FollowerStore
from bot.core.hitl_watch import HitlWatchStore
from bot.core.silent import SilentStore
from bot.core.subscriptions import SubscriptionStore
from bot.core.watcher import WatcherStore
from bot.store import (
    ActionClaims,
    ActionDecisions,
    ActionIssuer,
    ActionLookup,
    AuditWriter,
    DagHistories,
    FollowsTable,
    HitlEvents,
    IncidentAcks,
    IncidentRows,
    Incidents,
    Pruner,
    Store,
    SubscriptionsTable,
    WatchesTable,
    WatchStates,
)


def _each_protocol_is_met_by(store: Store) -> tuple[
    ActionClaims, ActionDecisions, ActionIssuer, ActionLookup, AuditWriter, DagHistories,
    FollowsTable, HitlEvents, IncidentAcks, IncidentRows, Incidents, Pruner, SubscriptionsTable,
    WatchesTable, WatchStates,
    ApprovalStore, FollowerStore, HitlWatchStore, SilentStore, SubscriptionStore, WatcherStore,
]:  # fmt: skip
    return (store,) * 21  # type-checked by mypy against each protocol in turn


PROTOCOLS = [
    value
    for name in bot.store.__all__
    if inspect.isclass(value := getattr(bot.store, name)) and Protocol in value.__mro__[1:]
]


def test_every_protocol_of_the_store_names_methods_the_store_has() -> None:
    assert len(PROTOCOLS) == 15
    for protocol in PROTOCOLS:
        names = {n for k in protocol.__mro__ if k.__module__.startswith("bot.") for n in vars(k)
                 if not n.startswith("_")}  # fmt: skip
        assert names, protocol
        for name in names:
            ours = inspect.signature(getattr(protocol, name)).parameters
            theirs = inspect.signature(getattr(Store, name)).parameters
            assert [(p.name, p.kind) for p in ours.values()] == [
                (p.name, p.kind) for p in theirs.values()
            ], (protocol, name)
