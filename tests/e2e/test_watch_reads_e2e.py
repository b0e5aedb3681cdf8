"""The watcher's reads against a real Airflow 2.11 and 3.3: runs under way, task instances
waiting and why, a DAG's details and last successes on the session servers (no scheduler, so
a triggered run stays queued and nothing runs), and import errors on a scheduled server, the
only kind that parses DAG files as they change."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.airflow import AirflowClient, AirflowNotFound, DagRun
from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from testkit.airflow_probe import AirflowProbe


def admin(server: AirflowServer) -> AirflowClient:
    return AirflowClient(base_url=server.url, name=f"af{server.major}", username=ADMIN_USER,
                         password=ADMIN_PASSWORD)  # fmt: skip


def all_active(client: AirflowClient) -> list[DagRun]:
    runs: list[DagRun] = []
    while True:
        page = client.active_runs(limit=100, offset=len(runs))
        runs += page.runs
        if not page.runs or len(runs) >= page.total:
            return runs


@pytest.fixture
def unpaused_slow(airflow: AirflowServer) -> Iterator[str]:
    """``silent_slow`` unpaused for the test (nothing runs it: no scheduler), paused again."""
    probe = AirflowProbe(airflow)
    probe.set_paused("silent_slow", False)
    try:
        yield "silent_slow"
    finally:
        probe.set_paused("silent_slow", True)


def test_triggered_runs_stay_queued_and_are_listed_oldest_first(
    airflow: AirflowServer, unpaused_slow: str
) -> None:
    client = admin(airflow)
    tag = uuid.uuid4().hex[:8]
    before = datetime.now(UTC) - timedelta(seconds=5)
    first = client.trigger(unpaused_slow, run_id=f"watch_reads_{tag}_1")
    second = client.trigger(unpaused_slow, run_id=f"watch_reads_{tag}_2")
    paused = client.trigger("silent_never", run_id=f"watch_reads_{tag}_3")  # a paused DAG

    mine = [r for r in all_active(client) if r.run_id.startswith(f"watch_reads_{tag}")]
    assert [r.run_id for r in mine] == [first.run_id, second.run_id, paused.run_id]
    assert {r.state for r in mine} == {"queued"}
    assert {r.start_date for r in mine} == {None}
    if airflow.major == 3:
        assert all(r.queued_at is not None and r.queued_at >= before for r in mine)
    else:
        assert {r.queued_at for r in mine} == {None}  # Airflow 2's API does not give it


def test_a_queued_run_s_task_says_why_it_does_not_run(airflow: AirflowServer) -> None:
    client = admin(airflow)
    run = client.trigger("silent_never", run_id=f"watch_reads_{uuid.uuid4().hex[:8]}")
    reasons = client.task_dependencies("silent_never", run.run_id, "never")
    assert "Dag Not Paused: Task's DAG 'silent_never' is paused." in reasons
    assert any(r.startswith("Dagrun Running: ") and "'queued'" in r for r in reasons)
    # A mapped index it does not have: Airflow's not-found, as the client's error.
    with pytest.raises(AirflowNotFound):
        client.task_dependencies("silent_never", run.run_id, "never", map_index=3)


def test_waiting_tasks_lists_scheduled_and_queued_instances_across_runs(
    airflow: AirflowServer,
) -> None:
    client = admin(airflow)
    tag = uuid.uuid4().hex[:8]
    scheduled = client.trigger("silent_never", run_id=f"watch_reads_{tag}_s")
    queued = client.trigger("silent_never", run_id=f"watch_reads_{tag}_q")
    # No scheduler here: the instances are put in the states the scheduler would give them.
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    set_task_state(airflow, scheduled.run_id, "scheduled", at)
    set_task_state(airflow, queued.run_id, "queued", at)

    found = {t.run_id: t for t in client.waiting_tasks().tasks if t.run_id.startswith("watch_")}
    s, q = found[scheduled.run_id], found[queued.run_id]
    assert (s.dag_id, s.task_id, s.state, s.pool) == ("silent_never", "never", "scheduled",
                                                      "default_pool")  # fmt: skip
    assert (q.state, q.queued_at) == ("queued", at)
    if airflow.major == 3:
        assert s.scheduled_at == at
    else:
        assert s.scheduled_at is None  # Airflow 2 has no scheduled_when
    # Airflow computes reasons for an instance without a state or scheduled, none once queued.
    assert client.task_dependencies("silent_never", queued.run_id, "never") == []
    assert client.task_dependencies("silent_never", scheduled.run_id, "never") != []


_SET_STATE = {  # Airflow 3 also records when the instance was scheduled
    2: "UPDATE task_instance SET state = :state, queued_dttm = :queued"
    " WHERE dag_id = 'silent_never' AND run_id = :run",
    3: "UPDATE task_instance SET state = :state, queued_dttm = :queued, scheduled_dttm = :at"
    " WHERE dag_id = 'silent_never' AND run_id = :run",
}


def set_task_state(server: AirflowServer, run_id: str, state: str, at: datetime) -> None:
    """What the scheduler writes when it schedules (and queues) the instance, at ``at``."""
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")  # how Airflow stores its times in SQLite
    values = {"state": state, "queued": stamp if state == "queued" else None, "at": stamp,
              "run": run_id}  # fmt: skip
    with sqlite3.connect(server.home / "airflow.db", timeout=30) as db:
        db.execute(_SET_STATE[server.major], values)


def test_successful_runs_are_the_latest_ended_first(airflow: AirflowServer) -> None:
    client = admin(airflow)
    tag = uuid.uuid4().hex[:8]
    runs = [client.trigger("silent_never", run_id=f"watch_reads_{tag}_{n}") for n in range(3)]
    for run in (runs[1], runs[0]):  # ended in that order
        client.mark_run("silent_never", run.run_id, "success")
    client.mark_run("silent_never", runs[2].run_id, "failed")

    latest = client.successful_runs("silent_never", limit=2)
    assert [r.run_id for r in latest] == [runs[0].run_id, runs[1].run_id]
    assert all(r.state == "success" and r.end_date is not None for r in latest)


def test_recent_successes_are_those_of_the_dags_asked_ended_since(
    airflow: AirflowServer,
) -> None:
    client = admin(airflow)
    tag = uuid.uuid4().hex[:8]
    before = datetime.now(UTC) - timedelta(seconds=1)
    won = client.trigger("silent_never", run_id=f"recent_{tag}_won")
    lost = client.trigger("silent_never", run_id=f"recent_{tag}_lost")
    client.mark_run("silent_never", won.run_id, "success")
    client.mark_run("silent_never", lost.run_id, "failed")

    page = client.recent_successes(["silent_never", "silent_slow"], since=before)
    # Other tests' runs may have ended in the same second: only this test's are looked at.
    assert [r.run_id for r in page.runs if tag in r.run_id] == [won.run_id]
    assert all(r.state == "success" and r.end_date and r.end_date >= before for r in page.runs)
    assert page.total == len(page.runs)
    assert client.recent_successes(["silent_slow"], since=before).runs == ()
    later = client.recent_successes(["silent_never"], since=datetime.now(UTC) + timedelta(hours=1))
    assert later.runs == ()


def test_a_run_says_the_dag_version_it_ran_with_on_airflow_3(airflow: AirflowServer) -> None:
    client = admin(airflow)
    run = client.trigger("silent_never", run_id=f"version_{uuid.uuid4().hex[:8]}")
    [read] = [r for r in client.list_runs("silent_never", limit=20) if r.run_id == run.run_id]
    if airflow.major == 2:
        assert (read.dag_version, read.bundle_version) == (None, None)  # Airflow 2 has none
    else:
        assert isinstance(read.dag_version, int) and read.dag_version >= 1
        assert read.bundle_version is None  # the local DAGs folder's bundle has no versions


def test_dag_details_give_max_active_runs(airflow: AirflowServer) -> None:
    client = admin(airflow)
    slow = client.dag_details("silent_slow")
    assert (slow.dag_id, slow.max_active_runs, slow.is_paused) == ("silent_slow", 1, True)
    assert client.dag_details("silent_never").max_active_runs == 16  # Airflow's default


def test_the_session_servers_parse_no_dag_file_after_start(airflow: AirflowServer) -> None:
    assert not airflow.parses_dag_files
    with pytest.raises(RuntimeError, match="runs no DAG file parser"):
        airflow.break_dag_file("broken_never_written.py")
    assert not (airflow.dags_folder / "broken_never_written.py").exists()


@pytest.mark.slow
def test_a_broken_dag_file_is_listed_until_it_is_fixed(running_airflow: AirflowServer) -> None:
    client = admin(running_airflow)
    name = f"broken_watch_reads_{uuid.uuid4().hex[:6]}.py"
    with running_airflow.broken_dag_file(name, message="watch_reads: broken") as entry:
        assert entry["stack_trace"].splitlines()[-1] == "RuntimeError: watch_reads: broken"
        [error] = [e for e in client.import_errors().errors if e.filename.endswith(name)]
        assert error.stack_trace.splitlines()[-1] == "RuntimeError: watch_reads: broken"
        assert error.timestamp is not None
        if running_airflow.major == 3:
            assert (error.filename, error.bundle) == (name, "dags-folder")
        else:  # Airflow 2 names the file by its full path, and has no bundles
            assert (error.filename, error.bundle) == (
                str(running_airflow.dags_folder / name), None,
            )  # fmt: skip
    assert not any(e.filename.endswith(name) for e in client.import_errors().errors)
    assert not (running_airflow.dags_folder / name).exists()
