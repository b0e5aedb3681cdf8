"""What a Heroku-style platform reads from the repository: app.json, Procfile, requirements.txt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return data


# Which variables app.json describes, and their defaults: tests/unit/test_variables.py.


def test_app_json_requires_the_slack_credentials_and_leaves_postgres_optional(
    app_json: dict[str, Any],
) -> None:
    env = app_json["env"]
    assert env["SLACK_BOT_TOKEN"]["required"] is True
    assert env["SLACK_SIGNING_SECRET"]["required"] is True
    assert env["DATABASE_URL"]["required"] is False
    assert "heroku-postgresql" in env["DATABASE_URL"]["description"]
    assert not app_json.get("addons")  # the add-on is the operator's choice
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    assert app_json["formation"]["web"]["quantity"] == 1
    assert app_json["success_url"] == "/healthz"


def test_the_procfile_migrates_on_release_and_serves_the_web_process() -> None:
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert lines["release"].strip() == "python -m bot migrate"
    assert lines["web"].strip().startswith("gunicorn ")


def test_the_buildpack_installs_the_bot_with_the_pinned_versions() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-c constraints.txt", "."]
    version = (ROOT / ".python-version").read_text().strip()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(p) for p in requires.removeprefix(">=").split("."))
    assert tuple(int(p) for p in version.split(".")) >= minimum


def test_the_release_step_runs_with_the_app_json_defaults(
    app_json: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "chatops.yml").write_text(
        "deployments:\n  dev:\n    url: http://127.0.0.1:9\n    token: ${DEV_TOKEN}\n"
    )
    env = {name: spec["value"] for name, spec in app_json["env"].items() if "value" in spec}
    env.update(
        PATH=os.environ.get("PATH", ""),
        HOME=str(tmp_path),
        SLACK_BOT_TOKEN="xoxb-release-step",
        SLACK_SIGNING_SECRET="release-step-secret",
        DEV_TOKEN="dev-token-123456",
        PYTHONPATH=str(ROOT),
    )
    release = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert release.returncode == 0, release.stderr
    assert "schema is up to date" in release.stdout
    assert (tmp_path / "chatops.db").exists()
