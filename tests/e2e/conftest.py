"""What the end-to-end modules share: an Airflow 2 and an Airflow 3 with their schedulers, so
that runs really run (following them, watching them), started once for the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import airflow_harness
from tests.support.airflow_harness import AirflowServer
from tests.support.airflow_probe import AirflowProbe


@pytest.fixture(scope="package", params=[2, 3], ids=["airflow2", "airflow3"])
def running_airflow(request: pytest.FixtureRequest) -> Iterator[AirflowServer]:
    """An Airflow with its scheduler, so triggered runs really run (started once for tests/e2e)."""
    server = airflow_harness.start(request.param, scheduler=True)
    probe = AirflowProbe(server)
    for dag in ("quick_success", "always_fails"):
        probe.set_paused(dag, False)  # new DAGs start paused, and a paused DAG's run waits
    try:
        yield server
    finally:
        server.stop()
