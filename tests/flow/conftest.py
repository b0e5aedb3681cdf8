"""What the flow tests share: a scripted Airflow, the real bot started with a test's config
(tests.support.flow), and a bare local bot for the tests of what reaches ``POST /slack/events``
(tests.support.raw_requests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest

from bot.serve.wsgi import WsgiApp, wsgi_app
from bot.tools.localbot import LocalBot
from tests.support.flow import FlowBot, FollowerMode, ScriptedAirflow, flow_bot
from tests.support.raw_requests import local_env

StartFlow = Callable[..., FlowBot]


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    """Airflow with two DAGs: ``etl_daily`` (active) and ``hr_payroll`` (paused)."""
    with ScriptedAirflow() as scripted:
        scripted.add_dag("etl_daily", description="Loads the warehouse")
        scripted.add_dag("hr_payroll", is_paused=True)
        yield scripted


@pytest.fixture
def start_flow(tmp_path: Path) -> Iterator[StartFlow]:
    """``start_flow(config, env=None, follower=...)``: the bot (``tests.support.flow_bot``)
    with that config, on a store under the test's ``tmp_path``; stopped after the test."""
    with ExitStack() as stack:

        def start(
            config: str,
            env: Mapping[str, str] | None = None,
            *,
            follower: FollowerMode = "background",
        ) -> FlowBot:
            return stack.enter_context(flow_bot(tmp_path, config, env, follower=follower))

        yield start


@pytest.fixture(scope="module")
def local(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalBot]:
    """The bare local bot (``tests.support.raw_requests.local_env``), with the settings in the
    test module's ``LOCAL_ENV`` if it has one; one per module."""
    more: dict[str, str] = getattr(request.module, "LOCAL_ENV", {})
    bot = LocalBot.start(local_env(tmp_path_factory.mktemp("local"), **more))
    yield bot
    bot.close()


@pytest.fixture(scope="module")
def app(local: LocalBot) -> WsgiApp:
    """The WSGI application the ``web`` process serves, around the local bot."""
    return wsgi_app(local.bot)
