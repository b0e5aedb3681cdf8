"""What changed since a failing DAG last worked (bot/core/changes.py): one line comparing the
failed run with the DAG's last success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.airflow import DagRun
from bot.core.changes import facts, since_it_worked

T0 = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


def run(run_id: str, ended: datetime, **fields: Any) -> dict[str, Any]:
    fields.setdefault("run_type", "scheduled")
    return facts(DagRun("etl", run_id, "failed", end_date=ended, **fields))


def test_the_same_on_every_count_says_so_with_how_long_before() -> None:
    last = run("scheduled__1", T0, dag_version=3, conf={"a": 1})
    failed = run("scheduled__2", T0 + timedelta(hours=3, minutes=10), dag_version=3, conf={"a": 1})
    line = since_it_worked(failed, last)
    assert line == (
        "Since it last worked (3h 10m before, run `scheduled__1`): the same DAG version, "
        "run type and conf."
    )


def test_airflow_2_has_no_versions_to_compare() -> None:
    line = since_it_worked(run("r2", T0), run("r1", T0))
    assert line.endswith(": the same run type and conf.") and "version" not in line


def test_each_difference_is_named() -> None:
    last = run("r1", T0, dag_version=4, bundle_version="a1b2", conf={"a": 1, "b": 2})
    failed = run("r2", T0 + timedelta(seconds=30), dag_version=5, bundle_version="c3d4",
                 run_type="manual", conf={"a": 1, "b": 3, "c": 0})  # fmt: skip
    line = since_it_worked(failed, last)
    assert line == (
        "Since it last worked (30s before, run `r1`): DAG version 4 → 5; bundle `a1b2` → "
        "`c3d4`; a manual run (it last worked in a scheduled one); conf differs in `b`, `c`."
    )


def test_conf_values_are_never_shown_and_many_keys_are_cut() -> None:
    last = run("r1", T0, conf={"password": "hunter2"})
    failed = run("r2", T0, conf={"password": "hunter3", **{f"k{i}": i for i in range(6)}})
    line = since_it_worked(failed, last)
    assert "hunter" not in line and "and 2 more" in line
    assert facts(DagRun("etl", "r", "failed", conf={"password": "hunter2"}))["conf"] != {
        "password": "hunter2"
    }


def test_a_version_or_bundle_missing_on_one_side_is_not_a_change() -> None:
    last = run("r1", T0, dag_version=None, bundle_version=None)
    failed = run("r2", T0, dag_version=2, bundle_version="abc")
    assert "version" not in since_it_worked(failed, last).split("):")[1].replace("DAG version,", "")
    assert "bundle" not in since_it_worked(failed, last)


def test_no_success_and_unknown_times() -> None:
    assert since_it_worked(run("r2", T0), None).startswith("No successful run of it")
    undated = facts(DagRun("etl", "r1", "success", run_type="scheduled"))
    assert since_it_worked(run("r2", T0), undated).startswith("Since it last worked (run `r1`)")
    later = run("r0", T0 + timedelta(hours=1))  # clocks apart: never a negative duration
    assert "(0s before" in since_it_worked(run("r2", T0), later)


def test_names_from_airflow_are_escaped() -> None:
    line = since_it_worked(run("r2", T0, run_type="<!here>"), run("<@U1>", T0))
    assert "<!here>" not in line and "&lt;!here&gt;" in line and "<@U1>" not in line


def test_a_conf_value_with_its_keys_in_another_order_is_the_same() -> None:
    last = run("r1", T0, conf={"opts": {"x": 1, "y": [1, 2]}})
    failed = run("r2", T0, conf={"opts": {"y": [1, 2], "x": 1}})
    assert since_it_worked(failed, last).endswith("the same run type and conf.")
