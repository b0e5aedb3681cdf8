"""``doctor`` on each managed platform's deployment, in front of the real Airflow 3: the steps
it checks, and the step it names when one fails (the exchange refused, the token refused by
Airflow, no Google or AWS credentials, the library missing)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.platforms import (
    ENVIRONMENT,
    REGION,
    Platform,
    astro,
    astro_config,
    composer,
    composer_config,
    mwaa,
    mwaa_config,
    upstream_of,
)
from testkit.tls import LocalCA
from testkit.token_endpoint import SERVICE_ACCOUNT
from tests.e2e.test_doctor import doctor, fails, setup

GRANT = "grants:\n  - role: operator\n    users: [U012ABCDEF]\n"


@pytest.fixture
def stood_up(
    airflow3: AirflowServer, local_ca: LocalCA, tmp_path: Path
) -> Iterator[tuple[Platform, Platform, Platform, Platform]]:
    """An Astro key, one whose tokens Airflow refuses, Composer and MWAA, on Airflow 3."""
    with contextlib.ExitStack() as stack:
        legacy = stack.enter_context(astro(upstream_of(airflow3)))
        refusing = stack.enter_context(astro(upstream_of(airflow3)))
        refusing.gateway.admit = lambda req: False
        google = stack.enter_context(composer(upstream_of(airflow3), tmp_path))
        aws = stack.enter_context(mwaa(upstream_of(airflow3), local_ca))
        yield legacy, refusing, google, aws


def run(
    tmp_path: Path,
    slack: SlackStandin,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    env: dict[str, str],
) -> tuple[int, str]:
    values, secrets = setup(tmp_path, slack, "deployments:\n" + config + GRANT, **env)
    # Google's and Amazon's libraries read the process's environment, as in the bot.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return doctor(values, [*secrets, *(v for k, v in env.items() if "SECRET" in k)])


def test_each_platform_passes_with_its_steps_named(
    stood_up: tuple[Platform, Platform, Platform, Platform],
    slack: SlackStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    legacy, _, google, aws = stood_up
    config = (
        astro_config(legacy, "legacy")
        + composer_config(google, "composer")
        + mwaa_config("mwaa", "login")
        + mwaa_config("mwaa-invoke", "invoke")
    )
    status, text = run(
        tmp_path, slack, monkeypatch, config, {**legacy.env, **google.env, **aws.env}
    )
    assert status == 0, text
    lines = text.splitlines()
    assert legacy.tokens is not None
    expected = [
        f"ok    deployment legacy: Airflow 3.3.2 at {legacy.gateway.url}, API v2",
        # (doctor masks every variable named like a key, the client ID's ASTRO_KEY_ID too)
        f"ok    deployment legacy: signed in with client ID *** at {legacy.tokens.token_url}",
        "ok    deployment legacy: credentials accepted (OAuth2 token)",
        f"ok    deployment composer: signed in with service account {SERVICE_ACCOUNT}",
        "ok    deployment composer: credentials accepted (Google access token)",
        f"ok    deployment mwaa: Airflow 3.3.2 at {aws.gateway.url}, API v2",
        f"ok    deployment mwaa: signed in with a web login to MWAA environment {ENVIRONMENT} "
        f"in {REGION}",
        "ok    deployment mwaa: credentials accepted (MWAA web login)",
        f"ok    deployment mwaa-invoke: Airflow 3.3.2 of MWAA environment {ENVIRONMENT} in "
        f"{REGION} through InvokeRestApi, API v2",
        "ok    deployment mwaa-invoke: credentials accepted (InvokeRestApi)",
    ]
    assert [line for line in expected if line not in lines] == [], text
    assert sum(1 for line in lines if " DAG(s) listed (" in line) == 4


def test_each_failing_step_is_named(
    stood_up: tuple[Platform, Platform, Platform, Platform],
    slack: SlackStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    legacy, refusing, google, aws = stood_up
    assert legacy.tokens is not None
    config = (
        astro_config(legacy, "wrongkey")
        + astro_config(refusing, "refused").replace("${ASTRO_KEY", "${REFUSED_KEY")
        + composer_config(google, "composer")
        + mwaa_config("mwaa", "login")
    )
    env = {**legacy.env, **google.env, **aws.env}
    env |= {k.replace("ASTRO_KEY", "REFUSED_KEY"): v for k, v in refusing.env.items()}
    env["ASTRO_KEY_SECRET"] = "a-wrong-secret-of-the-right-length"
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "no-such-key.json")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    status, text = run(tmp_path, slack, monkeypatch, config, env)
    assert status == 1
    assert fails(text) == [
        f"FAIL  deployment wrongkey: signing in failed: the token endpoint "
        f"{legacy.tokens.token_url} refused the client ID '***' or its secret "
        "(invalid_client: Unauthorized)",
        "FAIL  deployment refused: credentials refused (HTTP 401): Airflow refused what signing "
        "in gave: is the client (API key) one of this deployment's, with the right audience?",
        "FAIL  deployment composer: signing in failed: no Google credentials found: set "
        "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file, or run the bot on "
        f"Google Cloud as a service account (File {tmp_path / 'no-such-key.json'} was not found.)",
        "FAIL  deployment mwaa: asking AWS where the web server is failed: no AWS credentials "
        "found: give the bot's host an IAM role, or set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in its environment",
    ]


def test_a_missing_library_is_named_with_its_extra(
    slack: SlackStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the aws extra were not installed
    status, text = run(tmp_path, slack, monkeypatch, mwaa_config("mwaa"), {})
    assert status == 1
    (line,) = fails(text)
    assert line.startswith(
        f"FAIL  {tmp_path / 'chatops.yml'}: deployments.mwaa.auth: auth: mwaa needs the AWS SDK "
        "(boto3), which is not installed: install the bot with the aws extra"
    )
