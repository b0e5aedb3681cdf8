"""The doctor's checks of the settings (the environment) and of the config file."""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Config, ConfigError, load_config
from bot.config.environment import last_export
from bot.config.settings import DEFAULT_CONFIG_PATH, Settings, SettingsError
from bot.config.settings import load_settings as _load_settings
from bot.config.variables import VARIABLES, Reader, problem_of
from bot.tools.doctor.report import Report
from commands import REGISTRY


def check_settings(env: Mapping[str, str], report: Report) -> Settings | None:
    try:
        settings = _load_settings(env)
    except SettingsError as exc:
        for problem in exc.problems:
            name, _, what = problem.partition(": ")
            report.fail(name, what)
        return None
    mode = (
        "Socket Mode (SLACK_APP_TOKEN is set)"
        if settings.socket_mode
        else f"HTTP on port {settings.port}, requests checked with SLACK_SIGNING_SECRET"
    )
    report.ok("settings", mode)
    return settings


def check_environment(env: Mapping[str, str], report: Report) -> None:
    """The variables read before or beside the settings loader (gunicorn's, the log level's),
    by the table's bounds; and what `.env` gave this process, by name only."""
    for var in VARIABLES:
        if Reader.SETTINGS in var.readers:
            continue  # check_settings names its problems
        problem = problem_of(var, env.get(var.name, ""))
        if problem is not None:
            report.fail(var.name, problem)
    export = last_export()
    if export is None or not export.found:
        return
    text = f"{export.path}: set {', '.join(export.exported) or 'nothing'}"
    if export.overridden:
        # The usual surprise: a value edited in .env that a real variable hides.
        text += f"; the real environment's value won for {', '.join(export.overridden)}"
    report.ok(".env", text)


def lenient_settings(env: Mapping[str, str]) -> Settings | None:
    """Enough settings to check Slack when others (the signing secret, say) are wrong."""
    try:
        return _load_settings(env, require_signing_secret=False)
    except SettingsError:
        return None


def config_path(env: Mapping[str, str], settings: Settings | None) -> str:
    if settings is not None:
        return settings.config_path
    return env.get("CHATOPS_CONFIG", "").strip() or DEFAULT_CONFIG_PATH


def check_config(
    env: Mapping[str, str], settings: Settings | None, report: Report
) -> Config | None:
    path = config_path(env, settings)
    try:
        config = load_config(path, env, verbs=REGISTRY.facts())
    except ConfigError as exc:
        for problem in exc.problems:
            report.fail(exc.source, problem)
        return None
    deployments = ", ".join(config.deployments) or "none"
    report.ok(path, f"valid: deployments {deployments}; {len(config.grants)} grant(s)")
    return config
