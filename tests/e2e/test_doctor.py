"""``python -m bot doctor`` on a good setup and on broken ones, each failure named.

Real Airflows (testkit.airflow_fixtures) and the local Slack stand-in play the deployments and
Slack; a tiny scripted server plays an Airflow whose clock is off.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.tools.doctor import run_doctor
from bot.tools.localslack import SlackStandin
from bot.tools.manifest_check import Handled, check_manifest, handled_by_code, load_manifest
from testkit.airflow_harness import ADMIN_PASSWORD, AirflowServer
from testkit.bot_process import free_port

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "doctor-signing-secret-0123"
WRONG_PASSWORD = "not-the-password-42"


def config_text(*deployments: tuple[str, str]) -> str:
    body = "".join(
        f"  {name}:\n    url: {url}\n    username: admin\n    password: ${{AF_PASSWORD}}\n"
        for name, url in deployments
    )
    return f"deployments:\n{body}grants:\n  - role: operator\n    users: [U012ABCDEF]\n"


def setup(
    tmp: Path, slack: SlackStandin, config: str, **env: str
) -> tuple[dict[str, str], list[str]]:
    """The environment of a bot set up in ``tmp``, and the secrets it holds."""
    (tmp / "chatops.yml").write_text(config)
    values = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CHATOPS_CONFIG": str(tmp / "chatops.yml"),
        "DATABASE_URL": f"sqlite:///{tmp / 'chatops.db'}",
        "AF_PASSWORD": ADMIN_PASSWORD,
        **env,
    }
    return values, [values["SLACK_BOT_TOKEN"], SIGNING_SECRET, values["AF_PASSWORD"]]


def doctor(
    env: dict[str, str], secrets: list[str], manifest: Path | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    status = run_doctor(env, out=out, manifest=manifest or ROOT / "manifest.yml")
    text = out.getvalue()
    for secret in secrets:
        assert secret not in text, f"a secret was printed:\n{text}"
    assert "Traceback" not in text
    return status, text


def fails(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("FAIL")]


@pytest.fixture
def both(airflow2: AirflowServer, airflow3: AirflowServer) -> str:
    return config_text(("af2", airflow2.url), ("af3", airflow3.url))


def test_a_good_setup_passes_every_check(tmp_path: Path, slack: SlackStandin, both: str) -> None:
    env, secrets = setup(tmp_path, slack, both)
    status, text = doctor(env, secrets)
    assert status == 0, text
    assert fails(text) == []
    lines = text.splitlines()
    assert "ok    settings: HTTP on port 3000, requests checked with SLACK_SIGNING_SECRET" in lines
    assert f"ok    {tmp_path / 'chatops.yml'}: valid: deployments af2, af3; 1 grant(s)" in lines
    assert (
        "ok    SLACK_BOT_TOKEN: accepted: bot @airflow-bot in workspace Test Team (T0TEST)" in lines
    )
    assert (
        "ok    Slack scopes: the token has channels:history, chat:write, commands, "
        "groups:history, usergroups:read" in lines
    )
    assert "ok    clock vs Slack: within 2 s of the server's" in lines
    assert any(line.startswith("ok    deployment af2: Airflow 2.11.2 at ") for line in lines)
    assert any(line.startswith("ok    deployment af3: Airflow 3.3.2 at ") for line in lines)
    assert "ok    deployment af2: credentials accepted (user admin)" in lines
    assert "ok    deployment af3: credentials accepted (user admin)" in lines
    # Airflow 3 also lists approval_gate and approval_form (human-in-the-loop, 3.1+).
    assert any(line.startswith("ok    deployment af3: 14 DAG(s) listed (") for line in lines), [
        line for line in lines if "DAG" in line
    ]
    assert "ok    deployment af3 clock: within 2 s of the server's" in lines
    assert any("manifest.yml: declares /airflow" in line for line in lines)
    assert lines[-1].startswith("All ") and lines[-1].endswith(" checks passed.")


def test_a_wrong_slack_token_is_named(tmp_path: Path, slack: SlackStandin, both: str) -> None:
    env, secrets = setup(tmp_path, slack, both, SLACK_BOT_TOKEN="xoxb-revoked-or-mistyped-1")
    status, text = doctor(env, [*secrets, "xoxb-revoked-or-mistyped-1"])
    assert status == 1
    assert fails(text) == [
        "FAIL  SLACK_BOT_TOKEN: refused by Slack (invalid_auth: Slack does not know this token); "
        "copy the Bot User OAuth Token (xoxb-...) from the Slack app's OAuth & Permissions page, "
        "after installing the app to the workspace"
    ]
    assert "1 of " in text and " checks failed" in text


def test_an_unreachable_slack_api_is_named(tmp_path: Path, slack: SlackStandin, both: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"
    env, secrets = setup(tmp_path, slack, both, SLACK_API_URL=url)
    status, text = doctor(env, secrets)
    assert status == 1
    assert fails(text) == [f"FAIL  SLACK_API_URL: cannot reach Slack at {url}: connection refused"]


def test_missing_scopes_are_named(tmp_path: Path, both: str) -> None:
    with SlackStandin(bot_scopes=("commands", "chat:write"), socket_ping_interval=None) as narrow:
        env, secrets = setup(tmp_path, narrow, both)
        status, text = doctor(env, secrets)
    assert status == 1
    [line] = fails(text)
    assert line.startswith(
        "FAIL  Slack scopes: the token lacks usergroups:read, channels:history, groups:history, "
        "which manifest.yml asks for"
    )
    assert "reinstall the app" in line


def test_the_app_token_is_checked_in_socket_mode(
    tmp_path: Path, slack: SlackStandin, both: str
) -> None:
    env, secrets = setup(tmp_path, slack, both, SLACK_APP_TOKEN=slack.app_token)
    del env["SLACK_SIGNING_SECRET"]  # not needed over Socket Mode
    status, text = doctor(env, [*secrets, slack.app_token])
    assert status == 0, text
    assert "ok    settings: Socket Mode (SLACK_APP_TOKEN is set)" in text
    assert "ok    SLACK_APP_TOKEN: accepted: Socket Mode can connect" in text

    env["SLACK_APP_TOKEN"] = "xapp-1-not-this-app"
    status, text = doctor(env, [*secrets, "xapp-1-not-this-app"])
    assert status == 1
    assert fails(text)[0].startswith("FAIL  SLACK_APP_TOKEN: refused by Slack (invalid_auth)")


def test_a_wrong_url_is_named(tmp_path: Path, slack: SlackStandin, airflow3: AirflowServer) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    config = config_text(("af3", airflow3.url), ("gone", closed), ("notairflow", slack.base_url))
    env, secrets = setup(tmp_path, slack, config)
    status, text = doctor(env, secrets)
    assert status == 1
    assert fails(text) == [
        f"FAIL  deployment gone: could not reach Airflow at {closed} (connection refused); "
        "check deployments.gone.url",
        # Slack's stand-in answers every /api/... path, so it passes for an API at first.
        f"FAIL  deployment notairflow: {slack.base_url}/api/v2/version answered HTTP 200, not a "
        "version: is deployments.notairflow.url the Airflow base URL, before /api?",
    ]
    assert "ok    deployment af3: credentials accepted (user admin)" in text


@pytest.mark.parametrize("major", [2, 3])
def test_a_wrong_password_is_named_with_its_variable(
    tmp_path: Path,
    slack: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    major: int,
) -> None:
    server = airflow2 if major == 2 else airflow3
    env, secrets = setup(
        tmp_path, slack, config_text(("dev", server.url)), AF_PASSWORD=WRONG_PASSWORD
    )
    status, text = doctor(env, [*secrets, WRONG_PASSWORD])
    assert status == 1
    [line] = fails(text)
    assert line.startswith("FAIL  deployment dev: credentials refused (HTTP 40")
    assert line.endswith(
        "check the password in ${AF_PASSWORD} for user admin "
        "(deployments.dev.username and .password)"
    )
    assert f"ok    deployment dev: Airflow {server.version} at {server.url}" in text


def test_an_invalid_config_lists_every_problem_by_path(tmp_path: Path, slack: SlackStandin) -> None:
    config = """
deployments:
  prod:
    url: ftp://airflow.example.com
    token: literal-token-in-the-file
  dev:
    username: admin
    password: ${AF_PASSWORD}
grants:
  - role: admin
    users: [U012ABCDEF]
"""
    env, secrets = setup(tmp_path, slack, config)
    status, text = doctor(env, [*secrets, "literal-token-in-the-file"])
    assert status == 1
    source = str(tmp_path / "chatops.yml")
    failed = fails(text)
    assert any(f.startswith(f"FAIL  {source}: deployments.prod.url:") for f in failed)
    assert any(
        f.startswith(f"FAIL  {source}: deployments.prod.token: put the secret in the environment")
        for f in failed
    )
    assert any(f.startswith(f"FAIL  {source}: deployments.dev.url:") for f in failed)
    assert any(f.startswith(f"FAIL  {source}: grants[0].role:") for f in failed)
    # Slack is still checked: one run shows everything there is to fix.
    assert "ok    SLACK_BOT_TOKEN: accepted" in text


def test_missing_settings_are_named_and_slack_is_skipped(
    tmp_path: Path, slack: SlackStandin, both: str
) -> None:
    env, secrets = setup(tmp_path, slack, both)
    del env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"]
    status, text = doctor(env, secrets)
    assert status == 1
    assert [f.split(":")[0] for f in fails(text)] == [
        "FAIL  SLACK_BOT_TOKEN",
        "FAIL  SLACK_SIGNING_SECRET",
    ]
    assert "skip  Slack: not checked until the settings above are fixed" in text
    assert "ok    deployment af3: credentials accepted (user admin)" in text


# -- clocks ---------------------------------------------------------------------------------


class _SkewedAirflow(BaseHTTPRequestHandler):
    """Just enough of Airflow 3 for the doctor, with a clock ``skew`` seconds off."""

    skew = 0.0

    def date_time_string(self, timestamp: float | None = None) -> str:
        import time

        return formatdate((timestamp or time.time()) + self.skew, usegmt=True)

    def _json(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/v2/version":
            self._json('{"version": "3.3.2"}')
        elif self.path.startswith("/api/v2/dags"):
            self._json('{"dags": [], "total_entries": 0}')
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        self._json('{"access_token": "not-a-jwt"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def skewed() -> Iterator[tuple[str, type[_SkewedAirflow]]]:
    handler = type("Skewed", (_SkewedAirflow,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_clock_in_step_with_a_deployment_is_ok(
    tmp_path: Path, slack: SlackStandin, skewed: tuple[str, type[_SkewedAirflow]]
) -> None:
    env, secrets = setup(tmp_path, slack, config_text(("far", skewed[0])))
    status, text = doctor(env, secrets)
    assert status == 0, text
    assert "ok    deployment far clock: within 2 s of the server's" in text
    assert "warn  deployment far: no DAGs listed" in text


@pytest.mark.parametrize(
    ("skew", "status", "words"), [(-90, "warn", "ahead of"), (900, "FAIL", "behind")]
)
def test_clock_skew_against_a_deployment_is_named(
    tmp_path: Path,
    slack: SlackStandin,
    skewed: tuple[str, type[_SkewedAirflow]],
    skew: float,
    status: str,
    words: str,
) -> None:
    url, handler = skewed
    handler.skew = skew
    env, secrets = setup(tmp_path, slack, config_text(("far", url)))
    exit_status, text = doctor(env, secrets)
    found = re.search(
        rf"^{status} +deployment far clock: this machine is (\d+) s {words} the server .*"
        r"sync it with NTP$",
        text,
        re.MULTILINE,
    )
    assert found, text
    # The Date header has whole seconds.
    assert abs(int(found.group(1)) - abs(skew)) <= 1
    assert exit_status == (1 if status == "FAIL" else 0)


# -- the manifest -------------------------------------------------------------------------------


def test_the_code_handles_the_airflow_command() -> None:
    assert handled_by_code().commands == {"/airflow"}


def test_a_manifest_missing_what_the_code_handles(
    tmp_path: Path, slack: SlackStandin, both: str
) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text(
        (ROOT / "manifest.yml")
        .read_text()
        .replace("- command: /airflow", "- command: /airflow-old")
        .replace("      - usergroups:read", "      - users:read")
        .replace("request_url: https://YOUR-HOST/slack/events", "request_url: https://h/events")
    )
    env, secrets = setup(tmp_path, slack, both)
    status, text = doctor(env, secrets, manifest=manifest)
    assert status == 1
    named = [line.split(": ", 1)[1] for line in fails(text)]
    assert "features.slash_commands: no /airflow, which the bot handles; add it" in named
    assert (
        "oauth_config.scopes.bot: no usergroups:read, needed for usergroups.users.list: "
        "grants to Slack user groups"
    ) in named
    assert any(
        n.startswith("settings.interactivity.request_url: must end with /slack/events")
        for n in named
    )
    assert f"warn  {manifest}: oauth_config.scopes.bot: users:read not needed" in text


def test_interactivity_must_be_on_when_the_code_has_buttons() -> None:
    manifest = load_manifest(ROOT / "manifest.yml")
    manifest["settings"]["interactivity"]["is_enabled"] = False
    handled = Handled(commands=frozenset({"/airflow"}), interactive=("action page",))
    found = check_manifest(manifest, handled)
    assert found.problems == [
        "settings.interactivity.is_enabled: must be true; the bot has buttons and forms "
        "(action page)"
    ]
    assert check_manifest(load_manifest(ROOT / "manifest.yml"), handled).problems == []


def test_socket_mode_manifests_need_no_request_urls() -> None:
    manifest = load_manifest(ROOT / "manifest.yml")
    manifest["settings"]["socket_mode_enabled"] = True
    del manifest["settings"]["interactivity"]["request_url"]
    del manifest["features"]["slash_commands"][0]["url"]
    handled = Handled(commands=frozenset({"/airflow"}), interactive=("action page",))
    assert check_manifest(manifest, handled).problems == []


# -- as a command -------------------------------------------------------------------------------


def test_python_m_bot_doctor_exit_status_and_output(
    tmp_path: Path, slack: SlackStandin, airflow3: AirflowServer
) -> None:
    env, secrets = setup(tmp_path, slack, config_text(("af3", airflow3.url)))
    run_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env}
    good = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok    deployment af3: credentials accepted" in good.stdout, good.stdout
    run_env["AF_PASSWORD"] = WRONG_PASSWORD
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL  deployment af3: credentials refused" in bad.stdout, bad.stdout
    for secret in [*secrets, WRONG_PASSWORD]:
        assert secret not in good.stdout + good.stderr + bad.stdout + bad.stderr
