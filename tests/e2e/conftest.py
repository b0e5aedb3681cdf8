"""What the end-to-end modules share: an Airflow 2 and an Airflow 3 with their schedulers, so
that runs really run (following, logs, watching), started once for the whole package rather
than once per module: each start costs tens of seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.airflow_fixtures import scheduled_airflow
from testkit.airflow_harness import AirflowServer

# The DAGs whose runs the modules start (testkit/dags/).
RUN_DAGS = ("quick_success", "always_fails", "logs_then_fails", "silent_slow", "fails_when_asked")


@pytest.fixture(scope="package", params=[2, 3], ids=["airflow2", "airflow3"])
def running_airflow(request: pytest.FixtureRequest) -> Iterator[AirflowServer]:
    """An Airflow with its scheduler, so that runs really run."""
    with scheduled_airflow(request.param, unpaused=RUN_DAGS) as server:
        yield server
