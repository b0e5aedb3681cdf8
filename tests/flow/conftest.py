"""What the flow tests share: a bare local bot for the tests of what reaches
``POST /slack/events`` (tests.support.raw_requests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.serve.wsgi import WsgiApp, wsgi_app
from bot.tools.localbot import LocalBot
from tests.support.raw_requests import local_env


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
