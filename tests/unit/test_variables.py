"""The one table of environment variables (bot/config/variables.py) and everything that must agree
with it: the settings loader, gunicorn's settings, the doctor, app.json, .env.example and the
table in docs/operating.md. A variable added to the table and missing from any of them fails
here."""

from __future__ import annotations

import importlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import SettingsError, load_settings
from bot.config.variables import VARIABLES, Reader, markdown_table, variable
from bot.tools.doctor.report import Report
from bot.tools.doctor.settings import check_environment, check_settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = {v.name for v in VARIABLES}
BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing-secret-1"}


class Recording(dict[str, str]):
    """An environment that notes every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)

    def items(self) -> Any:  # reading everything would hide what is read
        raise AssertionError("the settings loader must look each variable up by its name")


def test_the_settings_loader_reads_exactly_the_table_s_settings() -> None:
    env = Recording(dict(BASE))
    load_settings(env)
    assert env.asked == {v.name for v in VARIABLES if Reader.SETTINGS in v.readers}


def test_the_settings_loader_takes_defaults_and_bounds_from_the_table() -> None:
    settings = load_settings(dict(BASE))
    assert settings.port == int(variable("PORT").default or 0)
    assert settings.worker_threads == int(variable("WORKER_THREADS").default or 0)
    assert settings.max_request_bytes == int(variable("MAX_REQUEST_BYTES").default or 0)
    assert settings.config_path == variable("CHATOPS_CONFIG").default
    high = variable("WATCH_INTERVAL_SECONDS").high
    with pytest.raises(SettingsError, match=f"WATCH_INTERVAL_SECONDS: .* to {high}"):
        load_settings({**BASE, "WATCH_INTERVAL_SECONDS": str((high or 0) + 1)})


@pytest.fixture
def fresh_gunicorn_conf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[pytest.MonkeyPatch]:
    from bot.serve import gunicorn_conf

    monkeypatch.chdir(tmp_path)  # no .env here
    yield monkeypatch
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_gunicorn_s_settings_read_the_table_s_gunicorn_variables(
    fresh_gunicorn_conf: pytest.MonkeyPatch,
) -> None:
    from bot.serve import gunicorn_conf

    values = {"PORT": "4321", "WEB_CONCURRENCY": "3", "WEB_THREADS": "5"}
    values["MAX_REQUEST_BYTES"] = "200000"
    assert set(values) == {v.name for v in VARIABLES if Reader.GUNICORN in v.readers}
    for name, value in values.items():
        fresh_gunicorn_conf.setenv(name, value)
    conf = importlib.reload(gunicorn_conf)
    read = (conf.bind, conf.workers, conf.threads, conf.max_request_bytes)
    assert read == ("0.0.0.0:4321", 3, 5, 200_000)
    fresh_gunicorn_conf.setenv("WEB_THREADS", "lots")
    with pytest.raises(SystemExit, match="WEB_THREADS: must be a whole number from 1 to"):
        importlib.reload(gunicorn_conf)


def doctor_fails(env: dict[str, str]) -> list[str]:
    out = io.StringIO()
    report = Report(out, [])
    check_settings(env, report)
    check_environment(env, report)
    return [line for line in out.getvalue().splitlines() if line.startswith("FAIL")]


@pytest.mark.parametrize("name", sorted(v.name for v in VARIABLES if v.whole or v.choices), ids=str)
def test_the_doctor_names_a_wrong_value_of_every_checked_variable(name: str) -> None:
    fails = doctor_fails({**BASE, name: "not-a-value"})
    assert len(fails) == 1 and fails[0].split()[1] == f"{name}:", fails


def test_the_doctor_passes_every_variable_at_its_default() -> None:
    defaults = {v.name: v.default for v in VARIABLES if v.default is not None}
    assert doctor_fails({**BASE, **defaults}) == []


def test_the_docs_table_is_the_table() -> None:
    operating = (ROOT / "docs" / "operating.md").read_text()
    assert markdown_table() in operating, (
        "docs/operating.md's table of variables differs from bot/config/variables.py: paste the "
        "output of `python -m bot.config.variables` over it"
    )


def test_app_json_describes_every_variable_of_the_web_process() -> None:
    env: dict[str, dict[str, Any]] = json.loads((ROOT / "app.json").read_text())["env"]
    assert set(env) == {v.name for v in VARIABLES if v.in_app_json}
    for var in VARIABLES:
        if not var.in_app_json:
            continue
        spec = env[var.name]
        assert spec["description"].strip(), var.name
        # No value where Heroku's own must win (DATABASE_URL, from its add-on).
        assert spec.get("value") in (None, var.default), var.name
        # app.json may ask for more (CHATOPS_CONFIG, filled in from its value), never less.
        assert spec["required"] is True or not var.required, var.name


def test_env_example_shows_every_variable_with_its_default() -> None:
    shown: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"#? ?([A-Z][A-Z0-9_]*)=(\S*)", line)
        if match:
            shown[match.group(1)] = match.group(2)
    config_refs = set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", (ROOT / "chatops.example.yml").read_text())
    )
    assert set(shown) - config_refs == NAMES
    for var in VARIABLES:
        if var.default is not None:
            assert shown[var.name] == var.default, var.name


def test_no_part_of_the_bot_reads_a_variable_the_table_lacks() -> None:
    read: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r"os\.environ(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]*)\"", text))
        read |= set(
            re.findall(r"(?:value|number|whole_number|variable)\(\s*\"([A-Z][A-Z0-9_]*)\"", text)
        )
    assert {"PORT", "LOG_LEVEL", "REQUESTS_CA_BUNDLE", "WEB_THREADS"} <= read
    assert read - NAMES == set()
