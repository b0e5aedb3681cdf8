"""A state store made by an earlier release is brought up to date: a SQLite file at schema
version 9 (before the subscription limits) keeps its subscriptions and gains their ``options``."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import create_engine, insert

from bot.config import Deadline, WatchOptions
from bot.store import MIGRATIONS, Store
from bot.store.schema import schema_version

VERSION_9 = 9


def _version_9_file(path: Path) -> None:
    """The file as version 9 left it: its steps run, then what step 10 adds taken away again
    (the steps make tables from today's Table objects, which have the new columns)."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema_version.create(conn)
        for version, step in enumerate(MIGRATIONS[:VERSION_9], start=1):
            step(conn)
            conn.execute(
                insert(schema_version).values(version=version, applied_at=datetime.now(UTC))
            )
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE subscription DROP COLUMN options")
        db.execute("ALTER TABLE watch_event DROP COLUMN closed_at")
        db.execute(
            "INSERT INTO subscription (channel_id, deployment, dag_glob, events, created_by, "
            "created_at) VALUES ('C0A', 'prod', 'etl_*', 'failed,success', 'U0A', "
            "'2026-01-01 12:00:00.000000')"
        )
    db.close()


def test_a_version_9_store_gains_the_subscription_options(tmp_path: Path) -> None:
    path = tmp_path / "chatops.db"
    _version_9_file(path)
    store = Store(f"sqlite:///{path}")
    try:
        assert store.schema_version() == VERSION_9
        assert store.migrate() == len(MIGRATIONS)
        [old] = store.subscriptions()
        assert (old.events, old.options) == (frozenset({"failed", "success"}), WatchOptions())
        limits = WatchOptions(long_after=1800.0, late=Deadline(at=time(9, 0), zone="Europe/Berlin"))
        args = {"channel_id": "C0A", "deployment": "prod", "dag_glob": "etl_*", "user_id": "U0B"}
        assert not store.subscribe(
            events=frozenset({"long", "late"}), options=limits, starts_after=None, **args
        )
        [changed] = store.subscriptions()
        assert (changed.events, changed.options) == (frozenset({"long", "late"}), limits)
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(watch_event)")}
        (stored,) = db.execute("SELECT options FROM subscription").fetchone()
    db.close()
    assert "closed_at" in columns
    assert stored == '{"long_after": 1800.0, "late": {"at": "09:00", "zone": "Europe/Berlin"}}'


def test_failed_alerts_of_an_earlier_release_are_not_taken_for_open_incidents(
    tmp_path: Path,
) -> None:
    # Before incidents, every failed alert stayed "open" (closed_at NULL) for good: the next
    # failure of its DAG must open an incident of its own, not reply under a days-old alert.
    path = tmp_path / "chatops.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema_version.create(conn)
        for version, step in enumerate(MIGRATIONS[:10], start=1):
            step(conn)
            conn.execute(
                insert(schema_version).values(version=version, applied_at=datetime.now(UTC))
            )
    engine.dispose()
    with sqlite3.connect(path) as db:
        for event in ("failed", "long"):
            db.execute(
                "INSERT INTO watch_event (channel_id, deployment, dag_id, run_id, event, message,"
                " state, created_at, next_try_at, attempts, message_ts) VALUES ('C0A', 'prod',"
                " 'etl', 'r1', ?, '{}', 'posted', '2026-01-01 12:00:00.000000',"
                " '2026-01-01 12:00:00.000000', 0, '1.1')",
                (event,),
            )
    db.close()
    store = Store(f"sqlite:///{path}")
    try:
        assert store.migrate() == len(MIGRATIONS)
        since = datetime(2026, 1, 1, 11, tzinfo=UTC)
        assert store.incidents("prod", "failed", closed_since=datetime.now(UTC)) == []
        [old] = store.incidents("prod", "failed", closed_since=since)
        assert old.closed_at == datetime(2026, 1, 1, 12, tzinfo=UTC)  # closed at its own time
        [long] = store.open_events("prod", "long")  # the silent trouble's stay as they were
        assert long.run_id == "r1"
    finally:
        store.close()
