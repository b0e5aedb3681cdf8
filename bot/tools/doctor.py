"""``python -m bot doctor``: check a setup before anyone types ``/airflow`` in Slack.

One line per check, ``ok`` or what to fix: the settings, the config (every problem by its
path), the state store, the Slack token and its scopes, each deployment (reachable, version,
credentials, DAGs, clock), and whether ``manifest.yml`` declares what the code handles. The
exit status is non-zero when anything failed. Secrets are never printed: every line goes
through a mask of every secret the environment and config hold.
"""

from __future__ import annotations

import email.utils
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, TextIO

import requests
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.airflow import AirflowClient, AirflowError, AirflowNotAllowed
from bot.config import Config, ConfigError, Deployment, load_config
from bot.config.settings import DEFAULT_CONFIG_PATH, Settings, SettingsError, load_environment
from bot.config.settings import load_settings as _load_settings
from bot.store import MIGRATIONS, Store
from bot.tools.manifest_check import (
    NEEDED_SCOPES,
    bot_scopes,
    check_manifest,
    handled_by_code,
    load_manifest,
)

DOCTOR_TIMEOUT_S = 10
# Slack refuses a request signed more than 5 minutes ago by its clock, and the bot refuses one
# more than 5 minutes old by its own: past that, every command fails.
SLACK_CLOCK_LIMIT_S = 300
# Run ages ("5 minutes ago") and JWT renewal assume the clocks agree.
AIRFLOW_CLOCK_WARN_S = 30
AIRFLOW_CLOCK_LIMIT_S = 300
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY", re.IGNORECASE)
_MIN_SECRET = 6
_SLACK_WHERE = "the Slack app's OAuth & Permissions page"
_TOKEN_ERRORS = {
    "invalid_auth": "Slack does not know this token",
    "not_authed": "no token was sent",
    "account_inactive": "the token's workspace or user was deactivated",
    "token_revoked": "the token was revoked (the app was uninstalled or reinstalled)",
    "token_expired": "the token expired (token rotation is on: turn it off in the manifest)",
    "not_allowed_token_type": "this kind of token is not allowed here",
}


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    SKIP = "skip"  # not checked, because of a failure above
    FAIL = "FAIL"


class Exit(IntEnum):
    OK = 0
    PROBLEMS = 1


@dataclass(frozen=True)
class Line:
    status: Status
    subject: str
    text: str


class Report:
    """Prints each check as it completes, with every secret masked."""

    def __init__(self, out: TextIO, secrets: list[str]) -> None:
        self._out = out
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self.lines: list[Line] = []

    def add_secrets(self, secrets: list[str | None]) -> None:
        more = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        self._secrets = sorted(set(self._secrets) | more, key=len, reverse=True)

    def ok(self, subject: str, text: str) -> None:
        self._add(Status.OK, subject, text)

    def warn(self, subject: str, text: str) -> None:
        self._add(Status.WARN, subject, text)

    def fail(self, subject: str, text: str) -> None:
        self._add(Status.FAIL, subject, text)

    def skip(self, subject: str, text: str) -> None:
        self._add(Status.SKIP, subject, text)

    def _add(self, status: Status, subject: str, text: str) -> None:
        line = Line(status, subject, self.mask(text))
        self.lines.append(line)
        self._out.write(f"{status.value:<5} {line.subject}: {line.text}\n")
        self._out.flush()

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def failures(self) -> int:
        return sum(1 for line in self.lines if line.status is Status.FAIL)


def run_doctor(
    env: Mapping[str, str] | None = None,
    *,
    out: TextIO | None = None,
    manifest: str | os.PathLike[str] | None = None,
) -> int:
    env = dict(env) if env is not None else load_environment()
    out = out or sys.stdout
    # Before anything is printed: every value that looks like a secret, by its variable's name.
    report = Report(out, [v.strip() for k, v in env.items() if _SECRET_NAME.search(k)])
    report.add_secrets([_url_password(env.get("DATABASE_URL", ""))])
    settings = check_settings(env, report)
    config = check_config(env, settings, report)
    if config is not None:
        report.add_secrets([s for d in config.deployments.values() for s in (d.token, d.password)])
    # Settings with a problem that does not concern Slack or the store (a missing signing
    # secret, say) still let those be checked.
    usable = settings or _lenient_settings(env)
    if usable is not None:
        check_store(usable.database_url, report)
    manifest_path = _manifest_path(manifest)
    manifest_data = _read_manifest(manifest_path, report)
    if usable is not None:
        needed = bot_scopes(manifest_data) if manifest_data else list(NEEDED_SCOPES)
        check_slack(usable, needed, report)
    else:
        report.skip("Slack", "not checked until the settings above are fixed")
    if config is not None:
        refs = _secret_references(_config_path(env, settings))
        for deployment in config.deployments.values():
            check_deployment(deployment, refs, report)
    if manifest_data is not None and manifest_path is not None:
        check_manifest_file(manifest_path, manifest_data, report)
    total, failed = len(report.lines), report.failures
    if failed:
        out.write(
            f"\n{failed} of {total} checks failed: fix what the FAIL lines say, then run "
            "`python -m bot doctor` again.\n"
        )
        return Exit.PROBLEMS
    out.write(f"\nAll {total} checks passed.\n")
    return Exit.OK


# -- settings, config, store -----------------------------------------------------------------


def _url_password(url: str) -> str | None:
    try:
        return make_url(url.strip()).password if url.strip() else None
    except (ValueError, SQLAlchemyError):
        return None


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


def _lenient_settings(env: Mapping[str, str]) -> Settings | None:
    """Enough settings to check Slack when others (the signing secret, say) are wrong."""
    try:
        return _load_settings(env, require_signing_secret=False)
    except SettingsError:
        return None


def _config_path(env: Mapping[str, str], settings: Settings | None) -> str:
    if settings is not None:
        return settings.config_path
    return env.get("CHATOPS_CONFIG", "").strip() or DEFAULT_CONFIG_PATH


def check_config(
    env: Mapping[str, str], settings: Settings | None, report: Report
) -> Config | None:
    path = _config_path(env, settings)
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        for problem in exc.problems:
            report.fail(exc.source, problem)
        return None
    deployments = ", ".join(config.deployments) or "none"
    report.ok(path, f"valid: deployments {deployments}; {len(config.grants)} grant(s)")
    return config


def check_store(database_url: str, report: Report) -> None:
    subject = "state store"
    try:
        url = make_url(database_url)
    except SQLAlchemyError:
        report.fail(subject, "DATABASE_URL is not a database URL like postgresql://user:pw@host/db")
        return
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            folder = path.resolve().parent
            if os.access(folder, os.W_OK):
                report.ok(subject, f"{shown}: the file will be created at start")
            else:
                report.fail(subject, f"{shown}: cannot create it, {folder} is not writable")
            return
    store: Store | None = None
    try:
        store = Store(database_url)
        version = store.schema_version()
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        report.fail(subject, f"{shown}: {type(exc).__name__}: {first}; check DATABASE_URL")
        return
    finally:
        if store is not None:
            store.close()
    latest = len(MIGRATIONS)
    if version > latest:
        report.fail(
            subject,
            f"{shown}: schema version {version} is newer than this bot's ({latest}): "
            "run the newer release",
        )
    elif version < latest:
        report.ok(
            subject,
            f"{shown}: reachable; schema version {version} will be upgraded to {latest} at "
            "start (or by `python -m bot migrate`, the Procfile's release step)",
        )
    else:
        report.ok(subject, f"{shown}: reachable, schema up to date")


# -- Slack -----------------------------------------------------------------------------------


def check_slack(settings: Settings, needed_scopes: list[str], report: Report) -> None:
    api_url = settings.slack_api_url or WebClient.BASE_URL
    client = WebClient(token=settings.slack_bot_token, base_url=api_url, timeout=DOCTOR_TIMEOUT_S)
    sent = time.time()
    try:
        resp = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        why = _TOKEN_ERRORS.get(error, f"Slack answered {error}")
        report.fail(
            "SLACK_BOT_TOKEN",
            f"refused by Slack ({error}: {why}); copy the Bot User OAuth Token (xoxb-...) "
            f"from {_SLACK_WHERE}, after installing the app to the workspace",
        )
        return
    except (SlackClientError, OSError) as exc:
        report.fail("SLACK_API_URL", f"cannot reach Slack at {api_url}: {_reason(exc)}")
        return
    received = time.time()
    report.ok(
        "SLACK_BOT_TOKEN",
        f"accepted: bot @{resp.get('user')} in workspace {resp.get('team')} "
        f"({resp.get('team_id')})",
    )
    headers = {k.lower(): v for k, v in (resp.headers or {}).items()}
    _check_scopes(headers.get("x-oauth-scopes"), needed_scopes, report)
    _check_clock(
        "clock vs Slack",
        headers.get("date"),
        (sent + received) / 2,
        report,
        warn_s=SLACK_CLOCK_LIMIT_S / 5,
        limit_s=SLACK_CLOCK_LIMIT_S,
        why="Slack's signed requests are refused when more than 5 minutes old by this clock",
    )
    if settings.slack_app_token:
        _check_app_token(settings.slack_app_token, api_url, report)


def _check_scopes(header: str | None, needed: list[str], report: Report) -> None:
    if header is None:
        report.warn("Slack scopes", "Slack did not say which scopes the token has; not checked")
        return
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in needed if s not in granted]
    if missing:
        report.fail(
            "Slack scopes",
            f"the token lacks {', '.join(missing)}, which manifest.yml asks for: add "
            f"{'it' if len(missing) == 1 else 'them'} on {_SLACK_WHERE} > Scopes (or update "
            "the app from manifest.yml), then reinstall the app to the workspace",
        )
        return
    report.ok("Slack scopes", f"the token has {', '.join(sorted(needed))}")


def _check_app_token(app_token: str, api_url: str, report: Report) -> None:
    client = WebClient(token=app_token, base_url=api_url, timeout=DOCTOR_TIMEOUT_S)
    try:
        # Hands out a Socket Mode URL that nobody uses; it expires by itself.
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        report.fail(
            "SLACK_APP_TOKEN",
            f"refused by Slack ({error}); create an app-level token with connections:write "
            "under Basic Information > App-Level Tokens, and turn on Socket Mode",
        )
        return
    except (SlackClientError, OSError) as exc:
        report.fail("SLACK_APP_TOKEN", f"cannot reach Slack at {api_url}: {_reason(exc)}")
        return
    report.ok("SLACK_APP_TOKEN", "accepted: Socket Mode can connect")


# -- deployments -----------------------------------------------------------------------------


def check_deployment(
    deployment: Deployment, refs: Mapping[tuple[str, str], str], report: Report
) -> None:
    name = deployment.name
    subject = f"deployment {name}"
    client = AirflowClient(
        base_url=deployment.url,
        name=name,
        token=deployment.token,
        username=deployment.username,
        password=deployment.password,
        api_version=deployment.api_version,
        read_timeout=min(deployment.timeout, DOCTOR_TIMEOUT_S),
        read_retries=0,
        pool_size=1,
    )
    try:
        _check_airflow(client, deployment, refs, subject, report)
    finally:
        client.close()


def _check_airflow(
    client: AirflowClient,
    deployment: Deployment,
    refs: Mapping[tuple[str, str], str],
    subject: str,
    report: Report,
) -> None:
    where = f"deployments.{deployment.name}"
    try:
        version = client.api_version
    except AirflowError as exc:
        report.fail(subject, f"{exc.message}; check {where}.url")
        return
    version_url = f"{client.base_url}/api/{version}/version"
    sent = time.time()
    try:
        resp = requests.get(version_url, timeout=(3.05, DOCTOR_TIMEOUT_S))
        body = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        report.fail(subject, f"{version_url} failed: {_reason(exc)}; check {where}.url")
        return
    received = time.time()
    if not isinstance(body, dict) or "version" not in body:
        hint = (
            f"is {where}.api_version right? (auto detects it)"
            if deployment.api_version != "auto"
            else f"is {where}.url the Airflow base URL, before /api?"
        )
        report.fail(
            subject, f"{version_url} answered HTTP {resp.status_code}, not a version: {hint}"
        )
        return
    report.ok(subject, f"Airflow {body['version']} at {client.base_url}, API {version}")
    _check_clock(
        f"{subject} clock",
        resp.headers.get("Date"),
        (sent + received) / 2,
        report,
        warn_s=AIRFLOW_CLOCK_WARN_S,
        limit_s=AIRFLOW_CLOCK_LIMIT_S,
        why="run ages the bot shows and token renewal assume the clocks agree",
    )
    try:
        page = client.list_dags(limit=100)
    except AirflowNotAllowed as exc:
        report.fail(
            subject,
            f"credentials refused (HTTP {exc.status}): {_credentials_hint(deployment, refs)}",
        )
        return
    except AirflowError as exc:
        report.fail(subject, f"listing DAGs failed: {exc.message}")
        return
    who = f"user {deployment.username}" if deployment.token is None else "token"
    report.ok(subject, f"credentials accepted ({who})")
    if page.total == 0:
        report.warn(
            subject,
            "no DAGs listed: the DAGs folder may be empty, or the credentials may not read DAGs",
        )
    else:
        shown = ", ".join(d.dag_id for d in page.dags[:3]) + (", ..." if page.total > 3 else "")
        report.ok(subject, f"{page.total} DAG(s) listed ({shown})")


def _credentials_hint(deployment: Deployment, refs: Mapping[tuple[str, str], str]) -> str:
    where = f"deployments.{deployment.name}"
    if deployment.token is not None:
        var = refs.get((deployment.name, "token"))
        return f"check the token{f' in ${{{var}}}' if var else ''} ({where}.token)"
    var = refs.get((deployment.name, "password"))
    return (
        f"check the password{f' in ${{{var}}}' if var else ''} for user {deployment.username} "
        f"({where}.username and .password)"
    )


def _secret_references(path: str) -> dict[tuple[str, str], str]:
    """(deployment, "token"|"password") -> the variable named in the file, for the hints."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    refs: dict[tuple[str, str], str] = {}
    deployments = data.get("deployments") if isinstance(data, dict) else None
    for name, body in (deployments or {}).items() if isinstance(deployments, dict) else []:
        for key in ("token", "password"):
            raw = body.get(key) if isinstance(body, dict) else None
            match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(raw or "").strip())
            if match:
                refs[(str(name), key)] = match.group(1)
    return refs


def _check_clock(
    subject: str,
    date_header: str | None,
    local: float,
    report: Report,
    *,
    warn_s: float,
    limit_s: float,
    why: str,
) -> None:
    if not date_header:
        report.warn(subject, "the server sent no Date header; not checked")
        return
    try:
        theirs = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        report.warn(subject, f"cannot read the server's Date header {date_header!r}; not checked")
        return
    # The Date header has whole seconds: a second either way is no skew.
    skew = local - theirs
    if abs(skew) <= 2:
        report.ok(subject, "within 2 s of the server's")
        return
    ahead = "ahead of" if skew > 0 else "behind"
    text = f"this machine is {abs(skew):.0f} s {ahead} the server ({why}): sync it with NTP"
    if abs(skew) > limit_s:
        report.fail(subject, text)
    elif abs(skew) > warn_s:
        report.warn(subject, text)
    else:
        report.ok(subject, f"within {abs(skew):.0f} s of the server's")


# -- manifest --------------------------------------------------------------------------------


def _manifest_path(given: str | os.PathLike[str] | None) -> Path | None:
    if given is not None:
        return Path(given)
    for candidate in (
        Path("manifest.yml"),
        Path(__file__).resolve().parents[2] / "manifest.yml",
    ):
        if candidate.is_file():
            return candidate
    return None


def _read_manifest(path: Path | None, report: Report) -> dict[str, Any] | None:
    if path is None:
        report.warn("manifest.yml", "not found here; give its path with --manifest to check it")
        return None
    try:
        return load_manifest(path)
    except ValueError as exc:
        report.fail(str(path), str(exc))
        return None


def check_manifest_file(path: Path, manifest: dict[str, Any], report: Report) -> None:
    findings = check_manifest(manifest, handled_by_code())
    for problem in findings.problems:
        report.fail(str(path), problem)
    for note in findings.notes:
        report.warn(str(path), note)
    if not findings.problems:
        report.ok(str(path), findings.summary)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
    ):
        if marker in text:
            return reason
    return type(exc).__name__
