"""What the flow tests share: a scripted Airflow, the real bot started with a test's config
(testkit.flow), for one test or for a whole module, and a bare local bot for the tests of
what reaches ``POST /slack/events`` (testkit.raw_requests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.serve.wsgi import WsgiApp, wsgi_app
from bot.tools.localbot import LocalBot
from testkit.flow import ScriptedAirflow, StartFlow, flows
from testkit.raw_requests import local_env


@contextmanager
def two_dags() -> Iterator[ScriptedAirflow]:
    """Airflow with two DAGs: ``etl_daily`` (active) and ``hr_payroll`` (paused)."""
    with ScriptedAirflow() as scripted:
        scripted.add_dag("etl_daily", description="Loads the warehouse")
        scripted.add_dag("hr_payroll", is_paused=True)
        yield scripted


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    """``two_dags`` for one test."""
    with two_dags() as scripted:
        yield scripted


@pytest.fixture
def start_flow(tmp_path: Path) -> Iterator[StartFlow]:
    """``start_flow(config, env=None, follower=...)``: the bot (``testkit.flow.flow_bot``)
    with that config, on a store under the test's ``tmp_path``; stopped after the test."""
    with flows(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_airflow() -> Iterator[ScriptedAirflow]:
    """``two_dags`` for all the tests of a module."""
    with two_dags() as scripted:
        yield scripted


@pytest.fixture(scope="module")
def start_module_flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartFlow]:
    """``start_flow`` for a bot that serves all the tests of a module (each test then looks
    only at what follows its own requests); stopped after the module."""
    with flows(tmp_path_factory.mktemp("flow")) as start:
        yield start


@pytest.fixture(scope="module")
def local(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalBot]:
    """The bare local bot (``testkit.raw_requests.local_env``), with the settings in the
    test module's ``LOCAL_ENV`` if it has one; one per module."""
    more: dict[str, str] = getattr(request.module, "LOCAL_ENV", {})
    bot = LocalBot.start(local_env(tmp_path_factory.mktemp("local"), **more))
    yield bot
    bot.close()


@pytest.fixture(scope="module")
def app(local: LocalBot) -> WsgiApp:
    """The WSGI application the ``web`` process serves, around the local bot."""
    return wsgi_app(local.bot)
