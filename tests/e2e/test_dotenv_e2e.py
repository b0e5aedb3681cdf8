"""`.env` in the working directory, and nothing else, sets up the real processes: the Procfile's
``web`` line (gunicorn reads its settings before the app is loaded), ``python -m bot``, and
``python -m bot doctor`` (whose Google and AWS sign-ins read ``os.environ``, as the bot's do).

Main read `.env` in the settings loader only: `PORT=...` there passed the doctor while gunicorn
bound 3000, and a Composer or MWAA deployment found no credentials.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot.tools.localslack import SlackStandin
from testkit.bot_process import BotProcess, free_port
from testkit.fake_http import FakeHTTPServer, Response
from testkit.mwaa_standin import MwaaApi, aws_env
from testkit.platforms import ENVIRONMENT, REGION, mwaa_config
from testkit.raw_requests import CONFIG
from testkit.token_endpoint import SERVICE_ACCOUNT, TokenEndpoint, service_account_key

COMMANDS = {
    "procfile-web": None,  # the Procfile's line, through a shell
    "python-m-bot": [sys.executable, "-m", "bot"],
}


def bot_with_dotenv(
    workdir: Path, slack: SlackStandin, dotenv: dict[str, str], command: list[str] | None
) -> BotProcess:
    """A bot whose PORT, WEB_CONCURRENCY and LOG_LEVEL come from ``.env`` only."""
    bot = BotProcess(
        workdir=workdir,
        config=CONFIG.format(port=free_port()),
        slack_api_url=slack.api_url,
        env={"PROD_TOKEN": "unused"},
        command=command,
    )
    for name in ("PORT", "WEB_CONCURRENCY", "WEB_THREADS", "LOG_LEVEL"):
        bot.env.pop(name, None)
    text = "".join(f"{name}={value}\n" for name, value in dotenv.items())
    (workdir / ".env").write_text(text.replace("{port}", str(bot.port)))
    return bot


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_port_processes_and_log_level_from_dotenv_reach_gunicorn_and_the_logs(
    tmp_path: Path, slack: SlackStandin, command: list[str] | None
) -> None:
    dotenv = {"PORT": "{port}", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "DEBUG"}
    # start() waits for /healthz on bot.port: the port only .env names.
    with bot_with_dotenv(tmp_path, slack, dotenv, command) as bot:
        assert requests.get(f"{bot.url}/healthz", timeout=5).status_code == 200
        assert len(bot.worker_pids()) == 1  # not the default 2
        logs = bot.logs()
    assert " DEBUG " in logs, logs
    assert f"Listening at: http://0.0.0.0:{bot.port}" in logs


def test_the_real_environment_wins_over_dotenv(tmp_path: Path, slack: SlackStandin) -> None:
    elsewhere = free_port()
    bot = bot_with_dotenv(tmp_path, slack, {"PORT": str(elsewhere)}, None)
    bot.env["PORT"] = str(bot.port)
    with bot:
        assert requests.get(f"{bot.url}/healthz", timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{elsewhere}/healthz", timeout=2)


def test_cloud_credentials_in_dotenv_reach_google_auth_and_boto3(
    tmp_path: Path, slack: SlackStandin
) -> None:
    api = MwaaApi(environment=ENVIRONMENT, region=REGION)
    with TokenEndpoint() as tokens, api.server, FakeHTTPServer() as composer:
        composer.route("GET", "/api/v2/version", Response(200, {"version": "3.3.2"}))
        key = service_account_key(tokens, tmp_path / "service-account.json")
        config = (
            f"deployments:\n  composer:\n    url: {composer.url}\n    auth: google\n"
            + mwaa_config("mwaa", "login")
            + "grants:\n  - role: operator\n    users: [U012ABCDEF]\n"
        )
        (tmp_path / "chatops.yml").write_text(config)
        aws = aws_env(api)
        in_dotenv = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(key),
            "AWS_ACCESS_KEY_ID": aws.pop("AWS_ACCESS_KEY_ID"),
            "AWS_SECRET_ACCESS_KEY": aws.pop("AWS_SECRET_ACCESS_KEY"),
            "AWS_ENDPOINT_URL_MWAA": aws.pop("AWS_ENDPOINT_URL_MWAA"),
        }
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in in_dotenv.items()))
        real = {
            "PATH": str(Path(sys.executable).parent),
            "HOME": str(tmp_path),
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": "doctor-signing-secret-0123",
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'chatops.db'}",
            # Never ask a metadata server or read this machine's own cloud logins.
            "NO_GCE_CHECK": "true",
            "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),
            **aws,
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot", "doctor"],
            cwd=tmp_path,
            env=real,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    out = done.stdout + done.stderr
    assert f"ok    deployment composer: signed in with service account {SERVICE_ACCOUNT}" in out
    assert "no AWS credentials found" not in out, out
    assert api.calls[:1] == ["CreateWebLoginToken"] and api.bad_signatures == 0, out
    assert tokens.issued >= 1
    names = ", ".join(in_dotenv)
    assert f"ok    .env: {tmp_path / '.env'}: set {names}" in out, out
    assert in_dotenv["AWS_SECRET_ACCESS_KEY"] not in out
