"""Shared fixtures: real Airflows (testkit.airflow_fixtures), the Slack stand-in, the bot
process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import ADMIN_PASSWORD, AirflowServer
from testkit.bot_process import BotProcess, free_port
from testkit.fake_http import FakeHTTPServer
from testkit.tls import LocalCA, make_ca

pytest_plugins = ["testkit.airflow_fixtures", "testkit.postgres_server"]

# No test may ask a cloud's metadata service (169.254.169.254) who this machine is: Google's and
# Amazon's libraries go there when nothing else gives them credentials. Set before either is
# imported (google-auth reads its switch at import).
os.environ["NO_GCE_CHECK"] = "true"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

DOWN_TIMEOUT = 2


@pytest.fixture
def server() -> Iterator[FakeHTTPServer]:
    """A scriptable HTTP server (testkit.fake_http), for the Airflow client's unit tests."""
    with FakeHTTPServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """A private certificate authority, and a certificate for 127.0.0.1 (HTTPS stand-ins)."""
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


@pytest.fixture
def slack_fresh(slack: SlackStandin) -> SlackStandin:
    slack.reset()
    return slack


def e2e_config(af2: AirflowServer, af3: AirflowServer, *, extra: str = "") -> str:
    """Both real Airflows, plus one that refuses connections, and channel defaults."""
    return f"""
deployments:
  af2:
    url: {af2.url}
    username: admin
    password: ${{AF_PASSWORD}}
  af3:
    url: {af3.url}
    username: admin
    password: ${{AF_PASSWORD}}
  down:
    url: http://127.0.0.1:{free_port()}
    token: ${{DOWN_TOKEN}}
    timeout: {DOWN_TIMEOUT}
channels:
  C0AF2: af2
  C0AF3: af3
{extra}
"""


# Alice may do everything everywhere; the permission tests use configs of their own.
OPERATOR_GRANT = """
grants:
  - role: operator
    users: [U0ALICE]
"""


E2E_ENV = {"AF_PASSWORD": ADMIN_PASSWORD, "DOWN_TOKEN": "down-token-secret-123456"}


@pytest.fixture(scope="session")
def bot(
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    slack: SlackStandin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("bot")
    process = BotProcess(
        workdir=workdir,
        config=e2e_config(airflow2, airflow3, extra=OPERATOR_GRANT),
        slack_api_url=slack.api_url,
        env=E2E_ENV,
    )
    with process:
        yield process
