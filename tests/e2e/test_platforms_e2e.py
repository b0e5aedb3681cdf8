"""Every managed platform's sign-in end to end: the bot under gunicorn, as the Procfile runs it,
reaching the real Airflow 3 only through a gateway that admits the platform's credential.

- an Astro Deployment API key: a local OAuth2 token endpoint (audience ``astronomer-ee``);
- Cloud Composer: google-auth with a service account key whose ``token_uri`` is local;
- Amazon MWAA: boto3 against a local MWAA API that verifies SigV4, an HTTPS web server with
  the login endpoint (``mwaa_mode: login``), and InvokeRestApi (``mwaa_mode: invoke``);
  and MWAA's web login on the real Airflow 2 too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from bot.airflow.clients import client_for
from bot.config import Deployment
from bot.config.model import MwaaEnvironment
from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import BotProcess
from testkit.conversation import finished_conversation
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
from tests.conftest import OPERATOR_GRANT

USER = "U0ALICE"
SHORT_LIFETIME = 10.0  # the token of `short`: renewed after 5 s
WRONG_SECRET = "a-wrong-secret-that-must-not-show-77"


@dataclass
class Platforms:
    bot: BotProcess
    legacy: Platform
    short: Platform
    composer: Platform
    mwaa: Platform


@pytest.fixture(scope="module")
def platforms(
    airflow3: AirflowServer,
    slack: SlackStandin,
    local_ca: LocalCA,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platforms]:
    workdir = tmp_path_factory.mktemp("platforms")
    with contextlib.ExitStack() as stack:
        legacy = stack.enter_context(astro(upstream_of(airflow3)))
        short = stack.enter_context(astro(upstream_of(airflow3), lifetime=SHORT_LIFETIME))
        google = stack.enter_context(composer(upstream_of(airflow3), workdir))
        aws = stack.enter_context(mwaa(upstream_of(airflow3), local_ca))
        config = (
            "deployments:\n"
            + astro_config(legacy, "legacy")
            + astro_config(short, "short").replace("${ASTRO_KEY", "${SHORT_KEY")
            + astro_config(legacy, "wrongkey").replace("${ASTRO_KEY_SECRET", "${WRONG_SECRET")
            + composer_config(google, "composer")
            + mwaa_config("mwaa", "login")
            + mwaa_config("mwaa-invoke", "invoke")
            + OPERATOR_GRANT
        )
        env = {**legacy.env, **google.env, **aws.env}
        env |= {k.replace("ASTRO_KEY", "SHORT_KEY"): v for k, v in short.env.items()}
        env["WRONG_SECRET"] = WRONG_SECRET
        # One process: each web process keeps its own token, so "one exchange however many
        # calls wait for it" is a promise per process (two processes, the default, make two).
        env["WEB_CONCURRENCY"] = "1"
        bot = stack.enter_context(
            BotProcess(workdir=workdir, config=config, slack_api_url=slack.api_url, env=env)
        )
        yield Platforms(bot=bot, legacy=legacy, short=short, composer=google, mwaa=aws)


def run(platforms: Platforms, slack: SlackStandin, text: str, channel: str = "C0PLATFORM") -> str:
    status, body = platforms.bot.slash(text, channel_id=channel, user_id=USER)
    assert (status, body) == (200, "")
    conv = finished_conversation(slack, channel, header=f"<@{USER}> ran `/airflow {text}`")
    return conv.reply_text


@pytest.mark.parametrize("dep", ["legacy", "composer", "mwaa", "mwaa-invoke"])
def test_each_platform_lists_and_triggers_through_the_bot(
    platforms: Platforms, slack: SlackStandin, airflow3: AirflowServer, dep: str
) -> None:
    probe = AirflowProbe(airflow3)
    probe.delete_runs("manual_only")
    slack.reset()
    listed = run(platforms, slack, f"list {dep} etl")
    assert "etl_daily" in listed and "etl_hourly" in listed, listed
    slack.reset()
    said = run(platforms, slack, f"trigger {dep} manual_only")
    (stored,) = probe.runs("manual_only")
    assert stored["dag_run_id"] in said, said
    assert stored["note"] == "Triggered from Slack by user U0ALICE in channel C0PLATFORM"
    probe.delete_runs("manual_only")
    gateway = {
        "legacy": platforms.legacy,
        "composer": platforms.composer,
        "mwaa": platforms.mwaa,
        "mwaa-invoke": platforms.mwaa,
    }[dep].gateway
    assert gateway.refused == 0
    if dep == "mwaa-invoke":
        assert platforms.mwaa.mwaa is not None
        assert any(i["Method"] == "POST" for i in platforms.mwaa.mwaa.invoked)
    else:
        assert gateway.admitted >= 2
    assert platforms.mwaa.mwaa is not None and platforms.mwaa.mwaa.bad_signatures == 0


def test_sixteen_commands_on_an_expired_token_cause_one_exchange(
    platforms: Platforms, slack: SlackStandin
) -> None:
    tokens = platforms.short.tokens
    assert tokens is not None
    slack.reset()
    run(platforms, slack, "status short etl_daily")
    first = tokens.exchanges
    time.sleep(SHORT_LIFETIME / 2 + 0.5)  # past the renewal point: the token is "expired"
    channels = [f"C0BURST{i:02d}" for i in range(16)]
    slack.reset()
    with ThreadPoolExecutor(16) as pool:
        acks = list(
            pool.map(
                lambda ch: platforms.bot.slash(
                    "status short etl_daily", channel_id=ch, user_id=USER
                ),
                channels,
            )
        )
    assert acks == [(200, "")] * 16
    for channel in channels:
        conv = finished_conversation(
            slack, channel, header=f"<@{USER}> ran `/airflow status short etl_daily`"
        )
        assert "etl_daily" in conv.reply_text
    assert tokens.exchanges - first == 1
    assert platforms.short.gateway.refused == 0


def test_a_refused_key_and_a_failing_endpoint_are_answered_in_words(
    platforms: Platforms, slack: SlackStandin
) -> None:
    tokens = platforms.legacy.tokens
    assert tokens is not None
    slack.reset()
    said = run(platforms, slack, "list wrongkey")
    assert said == (
        ":x: The bot could not sign in to Airflow on `wrongkey`: the token endpoint "
        f"{tokens.token_url} refused the client ID '{platforms.legacy.env['ASTRO_KEY_ID']}' or "
        "its secret (invalid_client: Unauthorized). An admin should check this deployment's "
        "credentials in the bot's config."
    ), said
    # Astro's endpoint failing while the token must be renewed: said, then over when it is.
    tokens.revoke_all()
    tokens.fail_next(3, 503)
    slack.reset()
    said = run(platforms, slack, "list legacy")
    assert f"exchanging the client credentials at {tokens.token_url} failed with HTTP 503" in said
    assert "is not answering" in said
    time.sleep(2.1)  # past the hold on a failed exchange
    tokens._failures.clear()
    slack.reset()
    assert "etl_daily" in run(platforms, slack, "list legacy")


def test_the_secrets_never_reach_the_log_or_slack(
    platforms: Platforms, slack: SlackStandin
) -> None:
    slack.reset()
    run(platforms, slack, "list legacy")
    logs = platforms.bot.log_path.read_text(errors="replace")
    said = str([c.params for c in slack.calls])
    for secret in (
        platforms.legacy.env["ASTRO_KEY_SECRET"],
        platforms.mwaa.env["AWS_SECRET_ACCESS_KEY"],
        WRONG_SECRET,
    ):
        assert secret not in logs and secret not in said


@pytest.mark.parametrize("mode", ["login", "invoke"])
def test_mwaa_reaches_airflow_2_too(
    airflow2: AirflowServer,
    local_ca: LocalCA,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    with mwaa(upstream_of(airflow2), local_ca, airflow_version="2.11.2") as aws:
        for name, value in aws.env.items():
            monkeypatch.setenv(name, value)
        dep = Deployment(name="mwaa2", url="", mwaa=MwaaEnvironment(ENVIRONMENT, REGION, mode))
        client = client_for(dep)
        page = client.list_dags(pattern="etl")
        assert [d.dag_id for d in page.dags] == ["etl_daily", "etl_hourly"]
        assert client.api_version == "v1"
        assert client.get_dag("etl_daily").dag_id == "etl_daily"
        assert aws.gateway.refused == 0
        if mode == "login":
            assert aws.login is not None and aws.login.logins == 1
            assert aws.gateway.admitted == 2
        client.close()
