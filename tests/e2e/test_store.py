"""The state store on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from bot.app import migrate_store
from bot.config import Deadline, WatchOptions
from bot.store import (
    MIGRATIONS,
    NewAction,
    NewEvent,
    OutboxRow,
    Retention,
    Store,
    StoreError,
    StoreUnavailable,
    normalise_url,
)
from bot.store.schema import outbox
from testkit.bot_process import procfile_command
from testkit.postgres_server import PASSWORD, PostgresServer


def _record(store: Store, n: int = 0, **overrides: object) -> int:
    values: dict[str, object] = {
        "user_id": f"U{n}",
        "channel_id": "C0OPS",
        "verb": "trigger",
        "deployment": "prod",
        "dag_id": "etl_daily",
        "logical_date": datetime(2022, 11, 16, 12, 34, tzinfo=timezone(timedelta(hours=1))),
        "conf": {"full_refresh": True, "note": "naïve ✓"},
        "text": "trigger prod etl_daily 2022-11-16T12:34:00+01:00",
    }
    values.update(overrides)
    return store.begin_audit(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


def test_postgres_urls_use_psycopg_and_accept_herokus_form() -> None:
    for url in ("postgres://u:p@db.example.com:5432/d", "postgresql://u:p@db.example.com/d"):
        assert normalise_url(url).drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_migrate_creates_the_schema_once_and_is_idempotent(store_url: str) -> None:
    store = Store(store_url)
    try:
        assert store.schema_version() == 0
        assert store.migrate() == len(MIGRATIONS)
        entry = _record(store)
        assert store.migrate() == len(MIGRATIONS)
        assert store.schema_version() == len(MIGRATIONS)
        assert [e.id for e in store.audit()] == [entry]  # migrating again lost nothing
    finally:
        store.close()


def test_concurrent_migrations_apply_each_step_once(store_url: str) -> None:
    # Several dynos (or gunicorn and the release step) may start at the same moment.
    stores = [Store(store_url) for _ in range(6)]
    barrier = threading.Barrier(len(stores))

    def migrate(s: Store) -> int:
        barrier.wait()
        return s.migrate()

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            versions = list(pool.map(migrate, stores))
        assert versions == [len(MIGRATIONS)] * len(stores)
        assert stores[0].schema_version() == len(MIGRATIONS)
    finally:
        for s in stores:
            s.close()


def test_an_entry_round_trips_with_its_outcome(store: Store) -> None:
    before = datetime.now(UTC)
    entry = _record(store)
    store.end_audit(entry, ok=True, outcome="triggered", run_id="manual__2022-11-16T11:34:00+00:00")
    [got] = store.audit()
    assert got.id == entry
    assert (got.user_id, got.channel_id, got.verb, got.deployment, got.dag_id) == (
        "U0", "C0OPS", "trigger", "prod", "etl_daily",
    )  # fmt: skip
    assert got.logical_date == datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    assert got.conf == {"full_refresh": True, "note": "naïve ✓"}
    assert got.text == "trigger prod etl_daily 2022-11-16T12:34:00+01:00"
    assert got.allowed is True and got.source == "slash"
    assert got.ok is True and got.outcome == "triggered"
    assert got.run_id == "manual__2022-11-16T11:34:00+00:00" and got.error is None
    assert got.at.tzinfo is UTC and before - timedelta(seconds=1) <= got.at
    assert got.finished_at is not None and got.finished_at >= got.at


def test_an_unfinished_action_is_on_record_as_such(store: Store) -> None:
    # Begun before acting: a crash midway leaves an entry that says it never finished.
    _record(store)
    [got] = store.audit()
    assert got.ok is None and got.finished_at is None and got.outcome is None


def test_denials_and_errors_are_recorded(store: Store) -> None:
    denied = _record(store, 1, allowed=False, verb="pause", conf=None, logical_date=None)
    store.end_audit(denied, ok=False, outcome="denied", error="no grant gives you pause on prod")
    failed = _record(store, 2)
    store.end_audit(failed, ok=False, outcome="failed", error="DAG etl_daily not found on prod")
    newest, oldest = store.audit()
    assert (oldest.allowed, oldest.outcome, oldest.error) == (
        False, "denied", "no grant gives you pause on prod",
    )  # fmt: skip
    assert oldest.conf is None and oldest.logical_date is None
    assert (newest.ok, newest.error) == (False, "DAG etl_daily not found on prod")


def test_audit_reads_newest_first_filtered_by_user_and_time(store: Store) -> None:
    ids = [_record(store, n % 2) for n in range(5)]
    assert [e.id for e in store.audit()] == ids[::-1]
    assert [e.id for e in store.audit(limit=2)] == ids[:2:-1]
    assert [e.id for e in store.audit(user_id="U1")] == [ids[3], ids[1]]
    assert store.audit(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(store.audit(since=datetime.now(UTC) - timedelta(minutes=1))) == 5


def test_entries_survive_closing_and_reopening_the_store(store_url: str) -> None:
    first = Store(store_url)
    first.migrate()
    entry = _record(first)
    first.end_audit(entry, ok=True, outcome="triggered", run_id="r1")
    first.close()
    second = Store(store_url)
    try:
        assert second.migrate() == len(MIGRATIONS)
        [got] = second.audit()
        assert (got.id, got.run_id, got.ok) == (entry, "r1", True)
    finally:
        second.close()


def test_many_threads_write_at_once_without_losing_an_entry(store: Store) -> None:
    # The bot's worker pool writes from many threads; SQLite must queue them, not fail.
    def write(n: int) -> int:
        entry = _record(store, n)
        store.end_audit(entry, ok=True, outcome="done")
        return entry

    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(write, range(200)))
    assert len(set(ids)) == 200
    entries = store.audit(limit=500)
    assert sorted(e.id for e in entries) == sorted(ids)
    assert all(e.ok is True for e in entries)


def test_an_in_memory_store_is_shared_by_all_threads() -> None:
    store = Store("sqlite://")
    store.migrate()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _record(store, n), range(8)))
    assert store.audit_count() == 8


def test_a_sqlite_store_uses_wal(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    store.close()
    import sqlite3

    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_than_the_code_knows_is_refused(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    from sqlalchemy import insert

    from bot.store import schema_version

    with store._engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=99, applied_at=datetime.now(UTC)))
    with pytest.raises(RuntimeError, match="version 99, newer than this bot knows"):
        store.migrate()
    store.close()


def test_an_unreachable_database_fails_start_up_without_its_password(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.app import StartupError

    url = postgres_server.url("postgres").replace(
        f"127.0.0.1:{postgres_server.port}", "127.0.0.1:1"
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StartupError) as info:
        migrate_store(url)
    message = str(info.value)
    assert "state store" in message and "DATABASE_URL" in message
    assert "127.0.0.1:1" in message
    assert PASSWORD not in message and PASSWORD not in caplog.text


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody can reach: a SQLite file in a folder that is not there, a PostgreSQL
    server on a port nothing listens on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'chatops.db'}"
    return "postgresql://chatops:secret-pw-4242@127.0.0.1:1/chatops"


def test_an_unreachable_database_raises_the_stores_own_error(unreachable_url: str) -> None:
    store = Store(unreachable_url)  # connects only when first used
    try:
        for use in (store.migrate, store.schema_version, store.audit, store.owed_deployments):
            with pytest.raises(StoreUnavailable) as info:
                use()
            assert not isinstance(info.value, SQLAlchemyError)
            assert info.value.kind == "OperationalError"  # the name operators have seen
            assert "secret-pw-4242" not in str(info.value)
    finally:
        store.close()


def test_start_up_names_the_underlying_error_of_an_unreachable_store(unreachable_url: str) -> None:
    from bot.app import StartupError

    with pytest.raises(StartupError, match=r"the state store .* failed: OperationalError: "):
        migrate_store(unreachable_url)


def test_a_store_not_migrated_fails_with_the_stores_error_not_the_librarys(store_url: str) -> None:
    store = Store(store_url)
    try:
        with pytest.raises(StoreError) as info:
            store.audit()  # no table yet
        assert not isinstance(info.value, SQLAlchemyError)
        assert info.value.kind in ("OperationalError", "ProgrammingError")
    finally:
        store.close()


def test_a_wrong_database_password_is_named_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    from bot.app import StartupError

    url = postgres_server.url().replace(PASSWORD, "wrong-password-777")
    with pytest.raises(StartupError) as info:
        migrate_store(url)
    assert "password authentication failed" in str(info.value)
    assert "wrong-password-777" not in str(info.value)


def _release(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """The Procfile's ``release`` line, run as a host runs it before starting new dynos."""
    (tmp_path / "chatops.yml").write_text(
        'deployments:\n  dev: {url: "http://127.0.0.1:9", token: "${DEV_TOKEN}"}\n'
    )
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SLACK_BOT_TOKEN": "xoxb-release-test",
        "SLACK_SIGNING_SECRET": "release-signing-secret",
        "DEV_TOKEN": "dev-token-value",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(  # noqa: S602 - a Procfile line is a shell line
        procfile_command("release"),
        shell=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_procfile_release_step_migrates_postgresql(tmp_path: Path, postgres_url: str) -> None:
    # Heroku's form of the URL, as its PostgreSQL add-on sets DATABASE_URL.
    heroku_url = postgres_url.replace("postgresql://", "postgres://", 1)
    result = _release(tmp_path, heroku_url)
    assert result.returncode == 0, result.stderr
    assert "The state store's schema is up to date." in result.stdout
    store = Store(postgres_url)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    assert _release(tmp_path, heroku_url).returncode == 0  # a second release changes nothing


def test_the_release_step_fails_clearly_on_a_wrong_password(
    tmp_path: Path, postgres_url: str
) -> None:
    result = _release(tmp_path, postgres_url.replace(PASSWORD, "not-the-password-31"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "password authentication failed" in output and "DATABASE_URL" in output
    assert "not-the-password-31" not in output and "Traceback" not in output


def _pending(store: Store, ttl: float = 600) -> str:
    [action_id] = store.add_actions(
        [
            NewAction(
                verb="trigger",
                state="awaiting_confirm",
                user_id="U0ALICE",
                channel_id="C0OPS",
                ttl_seconds=ttl,
                thread_ts="1700000000.000100",
                deployment="prod",
                dag_id="etl_daily",
                logical_date=datetime(2022, 11, 16, 11, 34, tzinfo=UTC),
                conf={"full_refresh": True},
                args={"header": "<@U0ALICE> ran `/airflow trigger prod etl_daily`"},
            )
        ]
    )
    return action_id


def test_a_pending_action_round_trips_under_an_unguessable_id(store: Store) -> None:
    action_id = _pending(store)
    assert len(action_id) == 24 and action_id != _pending(store)
    action = store.action(action_id)
    assert action is not None
    assert (action.verb, action.state, action.dag_id) == (
        "trigger",
        "awaiting_confirm",
        "etl_daily",
    )
    assert action.logical_date == datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    assert action.conf == {"full_refresh": True} and action.args["header"].startswith("<@U0ALICE>")
    assert not action.expired()
    assert store.action("0" * 24) is None


def test_of_many_simultaneous_claims_exactly_one_wins(store: Store) -> None:
    # Ten clicks on one Confirm, delivered at once (possibly to several processes).
    action_id = _pending(store)
    barrier = threading.Barrier(10)

    def claim(n: int) -> bool:
        barrier.wait()
        won = store.claim_action(
            action_id, from_state="awaiting_confirm", to_state="running", confirmed_by=f"U{n}"
        )
        return won is not None

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(claim, range(10)))
    assert results.count(True) == 1
    action = store.action(action_id)
    assert action is not None and action.state == "running"
    assert action.confirmed_by == f"U{results.index(True)}"


def test_an_expired_action_cannot_be_claimed(store: Store) -> None:
    action_id = _pending(store, ttl=0.2)
    time.sleep(0.3)
    assert store.claim_action(action_id, from_state="awaiting_confirm", to_state="running") is None
    action = store.action(action_id)
    assert action is not None and action.expired() and action.state == "awaiting_confirm"


def _follow(store: Store, run_id: str = "manual__1", limit_seconds: float = 3600) -> None:
    store.add_follow(
        deployment="prod",
        dag_id="etl_daily",
        run_id=run_id,
        channel_id="C0OPS",
        thread_ts="1700000000.000100",
        header="<@U0ALICE> ran `/airflow trigger prod etl_daily`",
        requested_by="U0ALICE",
        limit_seconds=limit_seconds,
    )


def test_two_processes_never_hold_the_same_follow(store: Store) -> None:
    for n in range(20):
        _follow(store, f"manual__{n}")
    barrier = threading.Barrier(2)

    def take(owner: str) -> set[str]:
        barrier.wait()
        return {f.run_id for f in store.take_due_follows(owner, lease_seconds=60)}

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(take, ["host-a:1:x", "host-b:2:y"])
    assert a.isdisjoint(b) and len(a | b) == 20
    # Each state is reported by one holder only, once.
    follow = store.follows()[0]
    holder = "host-a:1:x" if follow.run_id in a else "host-b:2:y"
    other = "host-b:2:y" if holder == "host-a:1:x" else "host-a:1:x"
    assert not store.report_follow(follow.id, other, before="queued", after="ended")
    assert store.report_follow(follow.id, holder, before="queued", after="ended")
    assert not store.report_follow(follow.id, holder, before="queued", after="ended")


def test_a_dead_holders_follows_are_taken_over_once_its_lease_lapses(store: Store) -> None:
    _follow(store)
    assert len(store.take_due_follows("dead:1:x", lease_seconds=0.3)) == 1
    assert store.take_due_follows("alive:2:y", lease_seconds=60) == []  # still leased
    time.sleep(0.4)
    [taken] = store.take_due_follows("alive:2:y", lease_seconds=60)
    assert taken.run_id == "manual__1"
    # Checked and put back for later: not due again until then.
    store.check_follow_later(taken.id, "alive:2:y", 30)
    assert store.take_due_follows("alive:2:y", lease_seconds=60) == []
    assert store.follows()[0].checks == 1


def test_following_a_run_again_starts_over(store: Store) -> None:
    _follow(store)
    [taken] = store.take_due_follows("a:1:x", lease_seconds=60)
    assert store.report_follow(taken.id, "a:1:x", before="queued", after="ended")
    assert store.take_due_follows("a:1:x", lease_seconds=60) == []  # ended: no more checks
    _follow(store)  # its failed tasks were cleared: it runs again
    [again] = store.take_due_follows("a:1:x", lease_seconds=60)
    assert again.id == taken.id and again.reported == "queued"


def test_a_request_signature_is_new_once_even_from_many_threads(store: Store) -> None:
    barrier = threading.Barrier(8)

    def arrive(_: int) -> bool:
        barrier.wait()
        return store.first_time("v0=" + "ab" * 32)

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(arrive, range(8))) == [False] * 7 + [True]
    assert store.first_time("v0=" + "cd" * 32)


def test_pruning_deletes_what_is_no_longer_acted_on_and_keeps_the_rest(store: Store) -> None:
    stale_action, live_action = _pending(store, ttl=60), _pending(store, ttl=10 * 24 * 3600)
    _follow(store, "manual__ended")
    _follow(store, "manual__running", limit_seconds=7 * 24 * 3600)
    [ended, _] = store.take_due_follows("a:1:x", lease_seconds=60)
    assert store.report_follow(ended.id, "a:1:x", before="queued", after="success")
    assert store.first_time("v0=" + "ab" * 32)
    entry = _record(store)

    # Two days on: the short-lived action is a day past its expiry, the ended follow a day old.
    deleted = store.prune(Retention(), now=datetime.now(UTC) + timedelta(days=2))

    assert deleted == {"seen_request": 1, "pending_action": 1, "followed_run": 1, "watch_event": 0,
                       "outbox": 0, "handed_over": 0, "journaled_request": 0}  # fmt: skip
    assert store.action(stale_action) is None and store.action(live_action) is not None
    assert [f.run_id for f in store.follows()] == ["manual__running"]  # still under way: kept
    assert [e.id for e in store.audit()] == [entry]  # the audit trail is kept by default


def test_pruning_the_audit_trail_only_past_its_retention(store: Store) -> None:
    old, recent = _record(store, 1), _record(store, 2)
    store.prune(Retention(audit=timedelta(days=30)), now=datetime.now(UTC) + timedelta(days=10))
    assert {e.id for e in store.audit()} == {old, recent}
    store.prune(Retention(audit=timedelta(days=30)), now=datetime.now(UTC) + timedelta(days=31))
    assert store.audit() == []
    assert store.row_counts() == {
        "audit_log": 0,
        "pending_action": 0,
        "followed_run": 0,
        "seen_request": 0,
        "watch_event": 0,
        "outbox": 0,
        "handed_over": 0,
        "journaled_request": 0,
    }


def test_a_follow_that_never_ended_is_pruned_a_day_after_it_gave_up(store: Store) -> None:
    _follow(store)  # limit_seconds=3600: it gives up an hour from now
    assert store.prune(Retention(), now=datetime.now(UTC) + timedelta(hours=20)) == {
        "seen_request": 0,
        "pending_action": 0,
        "followed_run": 0,
        "watch_event": 0,
        "outbox": 0,
        "handed_over": 0,
        "journaled_request": 0,
    }
    assert store.prune(Retention(), now=datetime.now(UTC) + timedelta(days=2))["followed_run"] == 1


def test_pruning_goes_on_in_batches_until_nothing_old_is_left(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.store.retention.PRUNE_BATCH", 3)
    for _ in range(7):
        _pending(store, ttl=60)
    later = datetime.now(UTC) + timedelta(days=2)
    assert store.prune(Retention(), now=later)["pending_action"] == 7
    assert store.row_counts()["pending_action"] == 0


# -- watching deployments ---------------------------------------------------------------------


def _event(run_id: str, channel: str = "C0ALERTS") -> NewEvent:
    return NewEvent(channel, "etl", run_id, "failed", {"text": run_id, "blocks": []})


def test_one_process_at_a_time_watches_a_deployment(store: Store) -> None:
    first = store.take_watch("prod", "a:1:x", lease_seconds=60)
    assert first is not None and first.watermark is None
    assert store.take_watch("prod", "b:2:y", lease_seconds=60) is None
    assert store.take_watch("prod", "a:1:x", lease_seconds=60) is not None  # renewed
    store.release_watch("prod", "a:1:x")
    assert store.take_watch("prod", "b:2:y", lease_seconds=60) is not None


def test_a_lapsed_watch_is_taken_over_where_it_stopped(store: Store) -> None:
    mark = datetime(2026, 1, 1, 12, tzinfo=UTC)
    store.take_watch("prod", "a:1:x", lease_seconds=0.01)
    assert store.advance_watch("prod", "a:1:x", watermark=mark, at_watermark=frozenset({"e/r"}))
    time.sleep(0.05)
    taken = store.take_watch("prod", "b:2:y", lease_seconds=60)
    assert taken is not None
    assert (taken.watermark, taken.at_watermark) == (mark, frozenset({"e/r"}))
    # The old holder lost its lease: it can move nothing any more.
    assert not store.advance_watch("prod", "a:1:x", watermark=mark, at_watermark=frozenset())


def test_each_event_is_recorded_once_and_posted_once(store: Store) -> None:
    mark = datetime(2026, 1, 1, 12, tzinfo=UTC)
    store.take_watch("prod", "a:1:x", lease_seconds=60)
    events = [_event("r1"), _event("r2"), _event("r1", channel="C0OTHER")]
    store.advance_watch("prod", "a:1:x", watermark=mark, at_watermark=frozenset(), events=events)
    store.advance_watch("prod", "a:1:x", watermark=mark, at_watermark=frozenset(), events=events)
    owed = store.owed_events("prod")
    assert sorted((e.channel_id, e.run_id) for e in owed) == [
        ("C0ALERTS", "r1"), ("C0ALERTS", "r2"), ("C0OTHER", "r1"),
    ]  # fmt: skip
    assert store.owed_deployments() == {"prod"}
    store.event_posted(owed[0].id, "1700000000.000100")
    store.event_retry(owed[1].id, delay_seconds=3600, error="ratelimited")
    store.event_undeliverable(owed[2].id, "not_in_channel")
    assert store.owed_events("prod") == []  # one posted, one later, one given up
    assert store.owed_deployments() == {"prod"}  # the retry is still owed
    later = datetime.now(UTC) + timedelta(days=8)
    # The one given up goes. The retry is still owed, and the one posted is an open incident
    # until its DAG succeeds: both kept.
    assert store.prune(Retention(), now=later)["watch_event"] == 1


def test_a_subscription_is_kept_per_channel_pattern_and_deployment(store: Store) -> None:
    mark = datetime(2026, 1, 1, 12, tzinfo=UTC)
    args = {"channel_id": "C0A", "deployment": "prod", "dag_glob": "etl_*", "user_id": "U0A"}
    limits = WatchOptions(
        long_after=1800.0, late=Deadline(at=time_of_day(9, 0), zone="Europe/Berlin")
    )
    assert store.subscribe(
        events=frozenset({"long", "late"}), options=limits, starts_after=mark, **args
    )
    [sub] = store.subscriptions(channel_id="C0A")
    assert (sub.events, sub.options) == (frozenset({"long", "late"}), limits)
    assert not store.subscribe(
        events=frozenset({"failed", "success"}), options=WatchOptions(), starts_after=None,
        **args,
    )  # fmt: skip
    [sub] = store.subscriptions(channel_id="C0A")
    assert (sub.events, sub.starts_after) == (frozenset({"failed", "success"}), mark)
    assert sub.options == WatchOptions()  # replaced with the events
    assert store.subscriptions(deployment="dev") == []
    assert store.unsubscribe(channel_id="C0A", deployment="prod", dag_glob="etl_*")
    assert not store.unsubscribe(channel_id="C0A", deployment="prod", dag_glob="etl_*")


# -- the outbox ------------------------------------------------------------------------------


def _message(store: Store, order: str, owner: str = "a:1", **more: Any) -> tuple[OutboxRow, bool]:
    give_up = datetime.now(UTC) + timedelta(hours=1)
    return store.add_message("post", order, {"channel": "C1", "text": "hi"}, owner=owner,
                             give_up_at=give_up, lease_seconds=60, **more)  # fmt: skip


def test_a_message_goes_now_only_when_nothing_earlier_in_its_thread_is_left(store: Store) -> None:
    first, now = _message(store, "C1/t1")
    assert now and first.state == "sending"
    second, now = _message(store, "C1/t1")
    assert not now and second.state == "pending"
    _, now = _message(store, "C1/t2")  # another thread does not wait
    assert now
    assert store.take_due_messages("b:2", lease_seconds=60) == []  # the second waits its turn
    store.message_sent(first.id, "a:1", "1.0001")
    [taken] = store.take_due_messages("b:2", lease_seconds=60)
    assert taken.id == second.id and store.take_due_messages("c:3", lease_seconds=60) == []


def test_a_try_left_by_a_dead_process_is_taken_over_as_unknown(store: Store) -> None:
    row, _ = _message(store, "C1/t1", owner="dead:1")
    with store._db.begin() as conn:  # its lease lapsed
        conn.execute(update(outbox).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    [taken] = store.take_due_messages("b:2", lease_seconds=60)
    assert taken.id == row.id and taken.unknown  # it may have reached Slack: look first
    store.message_sent(row.id, "dead:1", "9.9")  # the dead process's late word counts for nothing
    assert store.message(row.id).state == "sending"  # type: ignore[union-attr]


def test_a_message_recorded_twice_under_one_key_is_one_message(store: Store) -> None:
    first, now = _message(store, "C1/t1", key="watch:7")
    again, again_now = _message(store, "C1/t1", key="watch:7")
    assert now and not again_now and again.id == first.id
    assert len(store.messages()) == 1


def test_processes_taking_due_messages_at_once_each_get_different_ones(store: Store) -> None:
    rows = [_message(store, f"C1/t{n}", owner="x")[0] for n in range(12)]
    for row in rows:
        store.retry_message(row.id, "x", at=datetime.now(UTC), error="http_503", unknown=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        taken = list(pool.map(lambda n: store.take_due_messages(f"p:{n}", lease_seconds=60),
                              range(4)))  # fmt: skip
    ids = [r.id for batch in taken for r in batch]
    assert sorted(ids) == sorted(r.id for r in rows)  # each once


def test_requests_handed_over_are_taken_by_one_process(store: Store) -> None:
    assert store.hand_over([("a=1", {"content-type": ["x"]}), ("b=2", {})]) == 2
    [first, second] = store.take_handed_over("p:1", lease_seconds=60)
    assert (first.body, first.headers) == ("a=1", {"content-type": ["x"]})
    assert store.take_handed_over("p:2", lease_seconds=60) == []
    store.handed_over_done(first.id)
    store.handed_over_done(second.id)
    assert store.row_counts()["handed_over"] == 0


def test_a_journaled_request_is_carried_on_by_one_process_once_its_owner_is_gone(
    store: Store,
) -> None:
    from bot.store import JournaledRequest

    mine = JournaledRequest("v0=a", "text=a", {"x": ["1"]}, datetime.now(UTC))
    fast = JournaledRequest("v0=b", "text=b", {}, datetime.now(UTC))
    store.journal_requests("p:1", lease_seconds=60, accepted=[mine, fast], done=["v0=b"])
    assert store.take_journaled("p:2", lease_seconds=60) == []  # p:1 holds it
    store.free_journaled("p:1", [mine])  # p:1 died: its file said it was not done
    store.free_journaled("p:1", [mine])  # a second replay of the same file changes nothing
    [taken] = store.take_journaled("p:2", lease_seconds=60)
    assert (taken.key, taken.body, taken.headers) == ("v0=a", "text=a", {"x": ["1"]})
    assert store.take_journaled("p:3", lease_seconds=60) == []  # taken once
    store.free_journaled("p:1", [mine])  # p:2 holds it now: a late replay leaves it there
    assert store.take_journaled("p:3", lease_seconds=60) == []
    store.journal_requests("p:2", lease_seconds=60, done=["v0=a"])
    store.free_journaled("p:1", [mine])  # done: never carried on again
    assert store.take_journaled("p:3", lease_seconds=60) == []
    assert (
        store.prune(Retention(), now=datetime.now(UTC) + timedelta(days=2))["journaled_request"]
        == 2
    )
