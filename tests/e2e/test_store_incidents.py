"""The store's side of the watch's silent trouble (``long``, ``queued``, ``late``,
``import_errors``), on a SQLite file and on a real PostgreSQL server: what the watch learns of
each DAG (its usual duration, its last success), and the alerts that stay open until what they
tell of is over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, inspect

from bot.config import Deadline, WatchOptions
from bot.store import MIGRATIONS, NewEvent, Retention, Store, Success, clock
from bot.store.dag_history import KEPT
from bot.store.schema import schema_version
from bot.store.watches import CLOSE, REOPEN

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
MARK = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OWNER = "a:1:x"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


def _win(n: int, dag_id: str = "etl", duration: float | None = None) -> Success:
    """The n-th success of ``dag_id``: ended n hours after T0, lasting 100 + n seconds."""
    seconds = float(100 + n) if duration is None else duration
    return Success(dag_id, T0 + timedelta(hours=n), seconds)


# -- what the watch learns of each DAG ---------------------------------------------------------


def test_learning_keeps_the_ten_newest_durations_newest_first(store: Store) -> None:
    # Told in any order (several DAGs' runs, as a round reads them): kept as they ended.
    wins = [_win(n) for n in (3, 0, 11, 7, 1, 2, 9, 4, 10, 5, 8, 6)]
    store.learn_successes("prod", wins)
    [history] = store.dag_histories("prod", ["etl"]).values()
    assert history.durations == tuple(float(100 + n) for n in range(11, 1, -1))
    assert len(history.durations) == KEPT
    assert history.last_success_end == T0 + timedelta(hours=11)
    assert history.read_at is None  # learned from runs seen, never asked of Airflow
    # One more round: the newest goes first, the oldest kept falls off.
    store.learn_successes("prod", [_win(12)])
    [history] = store.dag_histories("prod", ["etl"]).values()
    assert history.durations == tuple(float(100 + n) for n in range(12, 2, -1))


def test_a_success_told_twice_or_older_than_the_last_is_not_learned_again(store: Store) -> None:
    store.learn_successes("prod", [_win(1), _win(2)])
    # The round repeated (a lease taken over where it stopped): run 2 again, and a new one.
    store.learn_successes("prod", [_win(2), _win(3)])
    # A success older than the last one known (read late): it changes nothing either.
    store.learn_successes("prod", [_win(0, duration=9999.0)])
    [history] = store.dag_histories("prod", ["etl"]).values()
    assert history.durations == (103.0, 102.0, 101.0)  # the median stays 102s, not skewed
    assert history.last_success_end == T0 + timedelta(hours=3)
    # A success with no duration (no start date) still moves the last success on.
    store.learn_successes("prod", [Success("etl", T0 + timedelta(hours=4), None)])
    [history] = store.dag_histories("prod", ["etl"]).values()
    assert history.durations == (103.0, 102.0, 101.0)
    assert history.last_success_end == T0 + timedelta(hours=4)


def test_each_dag_and_deployment_learns_its_own(store: Store) -> None:
    store.learn_successes("prod", [_win(1, "a"), _win(2, "b"), _win(3, "a")])
    store.learn_successes("dev", [_win(5, "a")])
    prod = store.dag_histories("prod", ["a", "b", "never_ran"])
    assert {d: h.durations for d, h in prod.items()} == {"a": (103.0, 101.0), "b": (102.0,)}
    assert store.dag_histories("dev", ["a", "b"])["a"].durations == (105.0,)
    store.learn_successes("prod", [])  # a round with no success: nothing to write
    assert store.dag_histories("prod", ["a"])["a"].durations == (103.0, 101.0)


def test_what_airflow_says_replaces_what_was_learned_and_is_dated(store: Store) -> None:
    store.learn_successes("prod", [_win(n) for n in range(5)])
    before = datetime.now(UTC)
    # Airflow's last successful runs, newest first (12 asked of it: 10 kept).
    airflow = [_win(n, duration=float(n)) for n in range(40, 28, -1)]
    returned = store.record_history("prod", "etl", airflow)
    stored = store.dag_histories("prod", ["etl"])["etl"]
    assert stored.durations == tuple(float(n) for n in range(40, 30, -1))
    assert stored.last_success_end == T0 + timedelta(hours=40)
    assert stored.read_at is not None and before - timedelta(seconds=1) <= stored.read_at
    assert returned.durations == stored.durations
    assert returned.last_success_end == stored.last_success_end
    # What the watch learns afterwards adds to it, and keeps the date Airflow was asked.
    store.learn_successes("prod", [_win(41, duration=1.0)])
    later = store.dag_histories("prod", ["etl"])["etl"]
    assert later.durations[:2] == (1.0, 40.0) and later.read_at == stored.read_at


def test_a_dag_airflow_knows_no_success_of_is_recorded_as_asked(store: Store) -> None:
    returned = store.record_history("prod", "new_dag", [])
    stored = store.dag_histories("prod", ["new_dag"])["new_dag"]
    assert stored.durations == () and stored.last_success_end is None
    assert stored.read_at is not None  # not asked again until the next deadline
    assert returned.durations == () and returned.last_success_end is None


def test_the_history_of_more_than_500_dags_is_read_at_once(store: Store) -> None:
    dags = [f"dag_{n:04d}" for n in range(1234)]
    store.learn_successes("prod", [_win(n % 7, dag) for n, dag in enumerate(dags)])
    found = store.dag_histories("prod", [*dags, "unknown_a", "unknown_b", dags[0]])
    assert sorted(found) == dags
    assert found["dag_0008"].durations == (101.0,)
    assert found["dag_1233"].last_success_end == T0 + timedelta(hours=1233 % 7)
    assert store.dag_histories("dev", dags) == {}


def test_two_stores_learning_a_new_dag_at_once_both_count(store_url: str) -> None:
    # A cache any process may write: the lease keeps two watches off one deployment, but one
    # whose lease lapsed mid-round may still be learning when its successor starts. Two
    # stores read "no history" and then both insert the DAG's first row.
    first, second = Store(store_url), Store(store_url)
    first.migrate()
    barrier = threading.Barrier(2)
    original = {s: s.dag_histories for s in (first, second)}

    def racing(s: Store) -> None:
        calls = {"n": 0}

        def read(deployment: str, dag_ids: object) -> object:
            found = original[s](deployment, dag_ids)  # type: ignore[arg-type]
            calls["n"] += 1
            if calls["n"] == 1:
                barrier.wait()  # both have read "nothing yet" before either writes
            return found

        s.dag_histories = read  # type: ignore[method-assign,assignment]

    for s in (first, second):
        racing(s)
    try:
        with ThreadPoolExecutor(2) as pool:
            done = [
                pool.submit(first.learn_successes, "prod", [_win(1)]),
                pool.submit(second.learn_successes, "prod", [_win(1), _win(2)]),
            ]
            for future in done:
                future.result()  # neither raises
        history = original[first]("prod", ["etl"])["etl"]
        assert history.durations == (102.0, 101.0)  # run 1 once, though both told it
        assert history.last_success_end == T0 + timedelta(hours=2)
    finally:
        first.close()
        second.close()


def test_two_stores_asking_airflow_of_a_new_dag_at_once_both_succeed(store_url: str) -> None:
    first, second = Store(store_url), Store(store_url)
    first.migrate()
    barrier = threading.Barrier(2)
    original = {s: s.dag_histories for s in (first, second)}
    for s in (first, second):

        def read(deployment: str, dag_ids: object, s: Store = s) -> object:
            found = original[s](deployment, dag_ids)  # type: ignore[arg-type]
            if not found:
                barrier.wait()
            return found

        s.dag_histories = read  # type: ignore[method-assign,assignment]
    try:
        with ThreadPoolExecutor(2) as pool:
            got = list(
                pool.map(lambda s: s.record_history("prod", "etl", [_win(3), _win(2)]),
                         (first, second))
            )  # fmt: skip
        assert [h.durations for h in got] == [(103.0, 102.0)] * 2
        stored = original[first]("prod", ["etl"])["etl"]
        assert stored.durations == (103.0, 102.0) and stored.read_at is not None
    finally:
        first.close()
        second.close()


# -- alerts open until what they tell of is over ----------------------------------------------


def _alert(run_id: str = "r1", event: str = "long", channel: str = "C0ALERTS") -> NewEvent:
    return NewEvent(channel, "etl", run_id, event, {"text": f"{run_id} runs long", "blocks": []})


def _recorded(store: Store, *events: NewEvent) -> list[int]:
    store.take_watch("prod", OWNER, lease_seconds=60)
    assert store.record_events("prod", OWNER, events)
    by_key = {(e["channel_id"], e["run_id"], e["event"]): e["id"] for e in store.watch_events()}
    return [by_key[(e.channel_id, e.run_id, e.event)] for e in events]


def _thread(row_id: int) -> NewEvent:
    reply = {"text": "It ended.", "blocks": [], "thread_of": row_id}
    return NewEvent("C0ALERTS", "etl", f"{row_id}:end", "thread", reply)


RESOLVED = {"text": "r1 ran long, and ended", "blocks": []}


def test_an_alert_resolved_before_it_was_posted_is_posted_as_it_then_reads(store: Store) -> None:
    [alert] = _recorded(store, _alert())
    assert [e.id for e in store.open_events("prod", "long")] == [alert]
    store.resolve_event(alert, resolved=RESOLVED, thread=_thread(alert))
    row = store.event_by_id(alert)
    assert row is not None
    assert row.message == RESOLVED and row.state == "pending" and row.closed_at is not None
    assert [e.id for e in store.owed_events("prod")] == [alert]  # still owed: one message
    assert len(store.watch_events()) == 1  # no reply in a thread not there yet
    assert store.open_events("prod", "long") == []  # not resolved again next round
    store.resolve_event(alert, resolved={"text": "again", "blocks": []}, thread=_thread(alert))
    assert store.event_by_id(alert).message == RESOLVED  # type: ignore[union-attr]


def test_a_posted_alert_resolved_gets_one_reply_in_its_thread(store: Store) -> None:
    alert, other = _recorded(store, _alert(), _alert("r2"))
    store.event_posted(alert, "1700000000.000100")
    store.resolve_event(alert, resolved=RESOLVED, thread=_thread(alert))
    store.resolve_event(alert, resolved=RESOLVED, thread=_thread(alert))  # the next round too
    row = store.event_by_id(alert)
    assert row is not None and row.state == "posted" and row.closed_at is not None
    assert row.message == {"text": "r1 runs long", "blocks": []}  # as posted; the reply replaces it
    replies = [e for e in store.watch_events() if e["event"] == "thread"]
    assert len(replies) == 1
    [reply] = replies
    assert (reply["channel_id"], reply["dag_id"], reply["run_id"]) == ("C0ALERTS", "etl",
                                                                      f"{alert}:end")  # fmt: skip
    assert reply["message"]["thread_of"] == alert
    assert store.has_event("C0ALERTS", "prod", "etl", f"{alert}:end", "thread")
    assert [e.id for e in store.owed_events("prod")] == [other, reply["id"]]
    assert [e.id for e in store.open_events("prod", "long")] == [other]
    assert store.open_events("prod", "thread") != []  # the reply itself is still to post


def test_an_alert_undeliverable_is_not_open_and_one_resolved_quietly_has_no_reply(
    store: Store,
) -> None:
    lost, quiet = _recorded(store, _alert(), _alert("r2"))
    store.event_undeliverable(lost, "not_in_channel")
    store.event_posted(quiet, "1.0")
    assert [e.id for e in store.open_events("prod", "long")] == [quiet]
    store.resolve_event(quiet, resolved=RESOLVED, thread=None)
    assert len(store.watch_events()) == 2 and store.open_events("prod", "long") == []
    assert store.event_by_id(quiet).closed_at is not None  # type: ignore[union-attr]
    assert store.event_by_id(quiet + lost + 1000) is None


def _failure(run_id: str, **message: Any) -> NewEvent:
    return NewEvent("C0ALERTS", "etl", run_id, "failed",
                    {"text": f"{run_id} failed", "blocks": [], **message})  # fmt: skip


def test_a_failure_incident_is_counted_closed_and_reopened_by_the_replies_recorded_with_it(
    store: Store,
) -> None:
    store.take_watch("prod", OWNER, lease_seconds=60)
    opened = _failure("r1", incident={"count": 1})
    counted = {"text": "counted 2", "blocks": []}
    again = NewEvent("C0ALERTS", "etl", "r2", "failed", {"text": "r2 failed", "blocks": [],
                     "thread_of": {"run_id": "r1", "event": "failed"}, "replace": counted},
                     closed=True)  # fmt: skip
    # Both in one call: the reply names the incident recorded just before it.
    assert store.advance_watch("prod", OWNER, watermark=MARK, at_watermark=frozenset(),
                               events=[opened, again])  # fmt: skip
    [incident] = store.incidents("prod", "failed", closed_since=MARK)
    assert incident.message == counted and incident.closed_at is None
    [reply] = [e for e in store.watch_events() if e["run_id"] == "r2"]
    assert reply["message"]["thread_of"] == incident.id and reply["closed_at"] is not None
    acked = store.acknowledge_incident("C0ALERTS", "prod", "etl", by="U0ADA", at=MARK)
    assert acked is not None and acked.message["ack"] == {"by": "U0ADA", "at": MARK.isoformat()}
    assert store.acknowledge_incident("C0OTHER", "prod", "etl", by="U0ADA", at=MARK) is None
    over = {"text": "recovered", "blocks": []}
    told = {"text": "ok", "blocks": [], "thread_of": incident.id, "replace": over}
    closing = NewEvent("C0ALERTS", "etl", "recovered:r3", "thread", told, closed=True, then=CLOSE)
    for _ in range(2):  # the round read again after a crash: recorded once
        store.advance_watch("prod", OWNER, watermark=MARK, at_watermark=frozenset(),
                            events=[closing])  # fmt: skip
    assert store.incidents("prod", "failed", closed_since=datetime.now(UTC)) == []
    [closed] = store.incidents("prod", "failed", closed_since=MARK)  # closed just now
    assert closed.closed_at is not None
    assert closed.message == {**over, "ack": {"by": "U0ADA", "at": MARK.isoformat()}}  # kept
    assert store.acknowledge_incident("C0ALERTS", "prod", "etl", by="U0BEN", at=MARK) is None
    reopening = NewEvent("C0ALERTS", "etl", "r4", "failed", {"text": "r4 failed", "blocks": [],
                         "thread_of": incident.id, "replace": counted}, closed=True,
                         then=REOPEN)  # fmt: skip
    store.advance_watch("prod", OWNER, watermark=MARK, at_watermark=frozenset(),
                        events=[reopening])  # fmt: skip
    [reopened] = store.incidents("prod", "failed", closed_since=datetime.now(UTC))
    assert reopened.id == incident.id and reopened.closed_at is None


def test_a_marker_is_recorded_done_and_never_posted(store: Store) -> None:
    checked = NewEvent("C0ALERTS", "etl_*", "late@2026-03-02T08:00:00+00:00", "checked", {},
                       marker=True)  # fmt: skip
    [marker] = _recorded(store, checked)
    row = store.event_by_id(marker)
    assert row is not None and row.state == "closed" and row.closed_at is not None
    assert store.owed_events("prod") == [] and store.owed_deployments() == set()
    assert store.open_events("prod", "checked") == []
    assert store.has_event("C0ALERTS", "prod", "etl_*", "late@2026-03-02T08:00:00+00:00",
                           "checked")  # fmt: skip
    assert not store.has_event("C0ALERTS", "prod", "etl_*", "late@2026-03-03T08:00:00+00:00",
                               "checked")  # fmt: skip
    # Recorded again the next round: still once, still done.
    assert store.record_events("prod", OWNER, [checked])
    assert len(store.watch_events()) == 1 and store.owed_events("prod") == []


def test_pruning_keeps_an_open_incident_until_it_is_resolved(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.now(UTC)
    today = {"now": start}
    monkeypatch.setattr("bot.store.clock.now", lambda: today["now"])
    incident, line, pending, _marker = _recorded(
        store,
        _alert("hanging", "long"),
        _alert("r9", "success"),
        _alert("broken", "import_errors"),
        NewEvent("C0ALERTS", "etl_*", "late@x", "checked", {}, marker=True),
    )
    store.event_posted(incident, "1.1")
    store.event_posted(line, "1.2")
    rules = Retention()
    assert store.prune(rules, now=start + timedelta(days=6))["watch_event"] == 0
    # Ten days on: the success line and the marker are gone; the run hanging for ten days
    # is still an incident (its thread is where its end is told), the unposted one still owed.
    today["now"] = start + timedelta(days=10)
    assert store.prune(rules)["watch_event"] == 2
    assert {e["id"] for e in store.watch_events()} == {incident, pending}
    assert [e.id for e in store.open_events("prod", "long")] == [incident]
    # It ends, and its end is told in its thread.
    store.resolve_event(incident, resolved=RESOLVED, thread=_thread(incident))
    [reply] = [e["id"] for e in store.watch_events() if e["event"] == "thread"]
    store.event_posted(reply, "1.3")
    # Resolved: the old alert goes with the next pruning; its reply, once a week old.
    assert store.prune(rules)["watch_event"] == 1
    assert {e["id"] for e in store.watch_events()} == {pending, reply}
    assert store.prune(rules, now=today["now"] + timedelta(days=8))["watch_event"] == 1
    assert [e["id"] for e in store.watch_events()] == [pending]


# -- a store made by the release before them -------------------------------------------------

VERSION_9 = 9


def _at_version_9(store: Store) -> None:
    """The database as version 9 left it: its steps run, then what step 10 adds taken away
    (the steps make tables from today's Table objects, which have the new columns), and the
    rows an older bot wrote."""
    with store._engine.begin() as conn:
        schema_version.create(conn)
        for version, step in enumerate(MIGRATIONS[:VERSION_9], start=1):
            step(conn)
            conn.execute(
                insert(schema_version).values(version=version, applied_at=datetime.now(UTC))
            )
        conn.exec_driver_sql("ALTER TABLE subscription DROP COLUMN options")
        conn.exec_driver_sql("ALTER TABLE watch_event DROP COLUMN closed_at")
        conn.exec_driver_sql(
            "INSERT INTO subscription (channel_id, deployment, dag_glob, events, created_by, "
            "created_at) VALUES ('C0A', 'prod', 'etl_*', 'failed,success', 'U0A', "
            "'2026-01-01 12:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO watch_event (channel_id, deployment, dag_id, run_id, event, message, "
            "state, created_at, next_try_at, attempts, message_ts) VALUES ('C0A', 'prod', "
            "'etl', 'r1', 'failed', '{\"text\": \"r1 failed\"}', 'posted', "
            "'2026-01-01 12:00:00', '2026-01-01 12:00:00', 1, '1.1')"
        )


def test_a_version_9_store_gains_the_columns_and_the_history_table(store_url: str) -> None:
    store = Store(store_url)
    try:
        _at_version_9(store)
        assert store.schema_version() == VERSION_9
        before = inspect(store._engine)
        assert not before.has_table("dag_history")
        assert "closed_at" not in {c["name"] for c in before.get_columns("watch_event")}
        assert store.migrate() == len(MIGRATIONS) and len(MIGRATIONS) > VERSION_9
        after = inspect(store._engine)
        assert {c["name"] for c in after.get_columns("dag_history")} == {
            "deployment", "dag_id", "durations", "last_success_end", "read_at", "updated_at",
        }  # fmt: skip
        assert after.get_pk_constraint("dag_history")["constrained_columns"] == [
            "deployment", "dag_id",
        ]  # fmt: skip
        assert "options" in {c["name"] for c in after.get_columns("subscription")}
        [closed_at] = [c for c in after.get_columns("watch_event") if c["name"] == "closed_at"]
        if store._engine.dialect.name == "postgresql":  # as a new database has it
            assert closed_at["type"].timezone  # type: ignore[attr-defined]
        # What the older bot wrote reads as it did: no limits; its failed alert kept, closed
        # at its own time (failures became incidents: it is no open one).
        [old] = store.subscriptions()
        assert (old.events, old.options) == (frozenset({"failed", "success"}), WatchOptions())
        [alert] = store.watch_events()
        assert alert["message"] == {"text": "r1 failed"}
        assert clock.utc(alert["closed_at"]) == clock.utc(alert["created_at"])
        # And the new columns and table take what the watch writes.
        limits = WatchOptions(long_after=1800.0, late=Deadline(at=time(9, 0), zone="Europe/Berlin"))
        args = {"channel_id": "C0A", "deployment": "prod", "dag_glob": "etl_*", "user_id": "U0B"}
        assert not store.subscribe(
            events=frozenset({"long", "late"}), options=limits, starts_after=None, **args
        )
        assert [s.options for s in store.subscriptions()] == [limits]
        store.resolve_event(alert["id"], resolved={"text": "over"}, thread=None)
        assert store.event_by_id(alert["id"]).closed_at is not None  # type: ignore[union-attr]
        store.learn_successes("prod", [_win(1), _win(2)])
        assert store.dag_histories("prod", ["etl"])["etl"].durations == (102.0, 101.0)
        assert store.migrate() == len(MIGRATIONS)  # once only
    finally:
        store.close()
