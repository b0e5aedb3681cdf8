"""The Airflow client against a real Airflow 2 and 3: every operation, every error kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot.airflow import (
    AirflowBadRequest,
    AirflowClient,
    AirflowConflict,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowUnavailable,
)
from testkit.airflow_harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    VIEWER_PASSWORD,
    VIEWER_USER,
    AirflowServer,
)
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import free_port


def admin(server: AirflowServer, **kwargs: object) -> AirflowClient:
    return AirflowClient(
        base_url=server.url,
        name=f"af{server.major}",
        username=ADMIN_USER,
        password=ADMIN_PASSWORD,
        **kwargs,  # type: ignore[arg-type]
    )


def test_detects_the_api_version(airflow: AirflowServer) -> None:
    client = admin(airflow)
    assert client.api_version == ("v1" if airflow.major == 2 else "v2")
    assert client.version().startswith(str(airflow.major))


def test_list_filters_server_side_and_pages(airflow: AirflowServer) -> None:
    client = admin(airflow)
    etl = client.list_dags(pattern="etl_")
    assert [d.dag_id for d in etl.dags] == ["etl_daily", "etl_hourly"]
    assert etl.total == 2
    daily = next(d for d in etl.dags if d.dag_id == "etl_daily")
    assert daily.schedule == "@daily"
    assert daily.description == "Daily ETL load (test DAG)"
    assert "etl" in daily.tags

    everything = client.list_dags(limit=100)
    first = client.list_dags(limit=3)
    second = client.list_dags(limit=3, offset=3)
    assert first.total == everything.total >= 8
    assert len(first.dags) == 3
    assert first.remaining == everything.total - 3
    ids = [d.dag_id for d in first.dags + second.dags]
    assert ids == [d.dag_id for d in everything.dags[:6]]


def test_get_dag_and_pause_really_change_state(airflow: AirflowServer) -> None:
    client, probe = admin(airflow), AirflowProbe(airflow)
    probe.set_paused("pause_target_b", True)
    assert client.get_dag("pause_target_b").is_paused is True
    assert client.set_paused("pause_target_b", False).is_paused is False
    assert probe.is_paused("pause_target_b") is False
    assert client.set_paused("pause_target_b", True).is_paused is True
    assert probe.is_paused("pause_target_b") is True


def test_trigger_with_date_conf_and_note_then_read_it_back(airflow: AirflowServer) -> None:
    client, probe = admin(airflow), AirflowProbe(airflow)
    probe.delete_runs("manual_only")
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    run = client.trigger("manual_only", logical_date=when, conf={"x": [1, 2]}, note="from a test")
    assert run.dag_id == "manual_only"
    assert run.logical_date == when
    assert run.conf == {"x": [1, 2]}
    assert run.state == "queued"
    stored = probe.run("manual_only", run.run_id)
    assert stored["note"] == "from a test"
    assert stored["conf"] == {"x": [1, 2]}

    again = client.get_run("manual_only", run.run_id)
    assert again.run_id == run.run_id
    assert again.logical_date == when


def test_trigger_without_a_date_is_what_airflow_itself_does(airflow: AirflowServer) -> None:
    client, probe = admin(airflow), AirflowProbe(airflow)
    probe.delete_runs("manual_only")
    before = datetime.now(UTC) - timedelta(seconds=5)
    run = client.trigger("manual_only")
    if airflow.major == 2:
        assert run.logical_date is not None and run.logical_date >= before  # "now"
    else:
        assert run.logical_date is None  # Airflow 3: no logical date
    assert [r["dag_run_id"] for r in probe.runs("manual_only")] == [run.run_id]


def test_runs_newest_first_and_latest_per_dag(airflow: AirflowServer) -> None:
    client, probe = admin(airflow), AirflowProbe(airflow)
    probe.delete_runs("manual_only")
    probe.delete_runs("quick_success")
    older = client.trigger("manual_only", logical_date=datetime(2020, 1, 1, tzinfo=UTC))
    newer = client.trigger("manual_only", logical_date=datetime(2020, 1, 2, tzinfo=UTC))
    other = client.trigger("quick_success", logical_date=datetime(2020, 1, 3, tzinfo=UTC))
    runs = client.list_runs("manual_only", limit=5)
    assert [r.run_id for r in runs] == [newer.run_id, older.run_id]
    latest = client.latest_runs(["manual_only", "quick_success", "etl_hourly"])
    assert latest["manual_only"].run_id == newer.run_id
    assert latest["quick_success"].run_id == other.run_id
    assert "etl_hourly" not in latest


def test_ui_links_open_in_the_airflow_ui(airflow: AirflowServer) -> None:
    client = admin(airflow)
    run = client.trigger("manual_only", run_id=f"link_{uuid.uuid4().hex[:8]}")
    for url in (client.dag_url("manual_only"), client.run_url("manual_only", run.run_id)):
        resp = requests.get(url, timeout=30)  # Airflow 2 redirects to its login page: fine
        assert resp.status_code == 200, url
        assert "<html" in resp.text.lower()


# -- every error kind ------------------------------------------------------------------------


def test_unknown_dag_is_not_found_on_every_operation(airflow: AirflowServer) -> None:
    client = admin(airflow)
    for call in (
        lambda: client.get_dag("no_such_dag"),
        lambda: client.list_runs("no_such_dag"),  # Airflow 2 answers 200 with no runs: still 404
        lambda: client.trigger("no_such_dag"),
        lambda: client.set_paused("no_such_dag", True),
        lambda: client.get_run("etl_daily", "no_such_run"),
    ):
        with pytest.raises(AirflowNotFound) as err:
            call()
        assert err.value.message  # Airflow's own words
        assert err.value.status == 404


def test_duplicate_logical_date_is_a_conflict(airflow: AirflowServer) -> None:
    client, probe = admin(airflow), AirflowProbe(airflow)
    probe.delete_runs("manual_only")
    when = datetime(2019, 5, 5, tzinfo=UTC)
    client.trigger("manual_only", logical_date=when)
    with pytest.raises(AirflowConflict) as err:
        client.trigger("manual_only", logical_date=when)
    assert err.value.status == 409
    assert len(probe.runs("manual_only")) == 1


def test_duplicate_run_id_is_a_conflict(airflow: AirflowServer) -> None:
    client = admin(airflow)
    run_id = f"dup_{uuid.uuid4().hex[:8]}"
    client.trigger("manual_only", run_id=run_id)
    with pytest.raises(AirflowConflict):
        client.trigger("manual_only", run_id=run_id)


def test_wrong_password_is_not_allowed(airflow: AirflowServer) -> None:
    client = AirflowClient(base_url=airflow.url, username=ADMIN_USER, password="wrong-password")
    with pytest.raises(AirflowNotAllowed) as err:
        client.list_dags()
    assert "wrong-password" not in str(err.value)


def test_bad_token_is_not_allowed(airflow: AirflowServer) -> None:
    client = AirflowClient(base_url=airflow.url, token="not-a-valid-token")
    with pytest.raises(AirflowNotAllowed):
        client.list_dags()


def test_a_read_only_user_cannot_pause(airflow: AirflowServer) -> None:
    viewer = AirflowClient(base_url=airflow.url, username=VIEWER_USER, password=VIEWER_PASSWORD)
    assert viewer.list_dags(pattern="pause_target").total == 2
    with pytest.raises(AirflowNotAllowed) as err:
        viewer.set_paused("pause_target_a", False)
    assert err.value.status == 403


def test_server_down_is_unavailable() -> None:
    client = AirflowClient(
        base_url=f"http://127.0.0.1:{free_port()}", token="t", api_version="v2", backoff=0.01
    )
    with pytest.raises(AirflowUnavailable, match="connection refused"):
        client.list_dags()


def test_a_naive_date_is_refused_before_any_call(airflow: AirflowServer) -> None:
    probe = AirflowProbe(airflow)
    probe.delete_runs("manual_only")
    with pytest.raises(AirflowBadRequest, match="time zone"):
        admin(airflow).trigger("manual_only", logical_date=datetime(2022, 11, 16, 11, 34))
    assert probe.runs("manual_only") == []


def test_a_run_id_airflow_refuses_is_a_bad_request_with_its_words(airflow: AirflowServer) -> None:
    # Each version validates run ids differently: too long for 2, bad characters for 3.
    bad, words = ("x" * 300, "maximum length") if airflow.major == 2 else ("bad id", "regex")
    with pytest.raises(AirflowBadRequest) as err:
        admin(airflow).trigger("manual_only", run_id=bad)
    assert err.value.status == 400
    assert words in err.value.message
