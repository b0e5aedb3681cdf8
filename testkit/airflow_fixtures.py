"""pytest plugin: session-wide real Airflow 2 and Airflow 3 servers from
testkit.airflow_harness.

Fixtures ``airflow2`` and ``airflow3`` (session scope, no scheduler) and ``airflow``
(parametrized over both, ids ``af2``/``af3``). Tests using any of them are marked ``airflow``,
so ``-m "not airflow"`` deselects them. A failed install or start errors the tests that need
the server; it never skips them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType

import pytest

from testkit.airflow_harness import AIRFLOW_VERSIONS, AirflowServer, start
from testkit.airflow_probe import AirflowProbe

AIRFLOW_FIXTURES = frozenset({"airflow", "airflow2", "airflow3"})


class _SessionServers:
    """Starts every Airflow version together on first use, each once per session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[int, Future[AirflowServer]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def get(self, major: int) -> AirflowServer:
        with self._lock:
            if not self._futures:
                # The suite uses both versions; starting them side by side overlaps their
                # mostly single-threaded start-ups on a 2-core machine.
                self._pool = ThreadPoolExecutor(
                    max_workers=len(AIRFLOW_VERSIONS), thread_name_prefix="airflow-start"
                )
                for each in AIRFLOW_VERSIONS:
                    self._futures[each] = self._pool.submit(start, each)
            future = self._futures[major]
        return future.result()

    def stop_all(self) -> None:
        with self._lock:
            futures = list(self._futures.values())
            pool, self._pool = self._pool, None
        for future in futures:
            # Waits for a start still in progress, so its processes cannot outlive the session.
            # A start that failed has already stopped whatever it had started.
            if future.exception() is None:
                future.result().stop()
        if pool is not None:
            pool.shutdown(wait=True)


_SERVERS = _SessionServers()


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def _airflow_servers() -> Iterator[_SessionServers]:
    # A CI runner cancelling the job sends SIGTERM, which by default ends Python without any
    # clean-up; turned into KeyboardInterrupt, pytest still tears the servers down.
    previous = None
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        yield _SERVERS
    finally:
        _SERVERS.stop_all()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def airflow2(_airflow_servers: _SessionServers) -> AirflowServer:
    """A real Airflow 2 webserver (``/api/v1``, basic auth), shared by the whole session."""
    return _airflow_servers.get(2)


@pytest.fixture(scope="session")
def airflow3(_airflow_servers: _SessionServers) -> AirflowServer:
    """A real Airflow 3 api-server (``/api/v2``, JWT auth), shared by the whole session."""
    return _airflow_servers.get(3)


@pytest.fixture(params=["airflow2", "airflow3"], ids=["af2", "af3"])
def airflow(request: pytest.FixtureRequest) -> AirflowServer:
    """Each real Airflow in turn."""
    server: AirflowServer = request.getfixturevalue(request.param)
    return server


@contextmanager
def scheduled_airflow(major: int, *, unpaused: tuple[str, ...]) -> Iterator[AirflowServer]:
    """An Airflow of its own with its scheduler, so that runs really run, and these DAGs
    unpaused (new DAGs start paused, and a paused DAG's run waits); for a test module whose
    runs must not disturb the session's servers."""
    server = start(major, scheduler=True)
    try:
        probe = AirflowProbe(server)
        for dag in unpaused:
            probe.set_paused(dag, False)
        yield server
    finally:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (e.g. runs a real scheduler)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if AIRFLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.airflow)


def pytest_sessionfinish() -> None:
    # Normally the session fixture has already done this; after an interrupt it may not have.
    _SERVERS.stop_all()
