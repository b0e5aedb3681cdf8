"""Process settings from the environment: Slack credentials, the port, where config and state live.

`.env` in the working directory is read too (python-dotenv), but real environment variables win,
so a deployment platform's settings always beat a developer's leftover file. All problems are
collected into one `SettingsError` that names each variable and what to do about it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dotenv import dotenv_values

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_WORKER_THREADS",
    "Settings",
    "SettingsError",
    "load_environment",
    "load_settings",
]

DEFAULT_PORT = 3000
DEFAULT_CONFIG_PATH = "chatops.yml"
DEFAULT_DATABASE_URL = "sqlite:///chatops.db"
DEFAULT_WORKER_THREADS = 32
DEFAULT_MAX_PENDING = 1000
DEFAULT_FOLLOW_LIMIT_MINUTES = 24 * 60  # a run still going after a day is reported as such
DEFAULT_WATCH_INTERVAL_SECONDS = 15  # how often a watched deployment is asked for ended runs
DEFAULT_OUTBOX_RETRY_MINUTES = 60  # how long a message Slack does not take is tried again
# Slack's largest legitimate bodies (a view submission, a click on a 50-block message) are tens
# of KiB; anything bigger is refused before it is read (bot/serve/request_limits.py).
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

# Slack's token prefixes are public, so naming the one we got is safe and helps with mix-ups.
_TOKEN_KIND = re.compile(r"(xox[a-z]|xapp)-")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


@dataclass(frozen=True)
class Settings:
    """What the process needs before it can read the config and talk to Slack."""

    slack_bot_token: str
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None  # None: Slack's own
    port: int = DEFAULT_PORT
    config_path: str = DEFAULT_CONFIG_PATH
    database_url: str = DEFAULT_DATABASE_URL
    worker_threads: int = DEFAULT_WORKER_THREADS  # Airflow calls in flight at once
    max_pending: int = DEFAULT_MAX_PENDING  # requests queued behind them before "busy, retry"
    follow_limit_minutes: int = DEFAULT_FOLLOW_LIMIT_MINUTES  # stop following a run after this
    audit_retention_days: int | None = None  # None: the audit trail is kept for ever
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # larger requests and frames are refused
    watch_interval_seconds: int = DEFAULT_WATCH_INTERVAL_SECONDS
    outbox_retry_minutes: int = DEFAULT_OUTBOX_RETRY_MINUTES
    # Where each process writes down the requests it acknowledged (bot/slack/journal.py): a
    # folder on local disk, shared by the processes of one machine. None: one in the system's
    # temporary folder, named for the store, so two bots on one machine keep theirs apart.
    journal_dir: str | None = None

    @property
    def socket_mode(self) -> bool:
        """Whether the bot connects out over Socket Mode instead of serving HTTP."""
        return self.slack_app_token is not None

    def __repr__(self) -> str:
        # Reprs end up in logs and tracebacks: never let a secret through.
        def masked(value: str | None) -> str:
            return "None" if value is None else "'***'"

        database_url = _URL_PASSWORD.sub(r"\1***@", self.database_url)
        return (
            f"Settings(slack_bot_token={masked(self.slack_bot_token)}, "
            f"slack_signing_secret={masked(self.slack_signing_secret)}, "
            f"slack_app_token={masked(self.slack_app_token)}, "
            f"slack_api_url={self.slack_api_url!r}, port={self.port!r}, "
            f"config_path={self.config_path!r}, "
            f"database_url={database_url!r}, worker_threads={self.worker_threads!r}, "
            f"max_pending={self.max_pending!r}, "
            f"follow_limit_minutes={self.follow_limit_minutes!r}, "
            f"audit_retention_days={self.audit_retention_days!r}, "
            f"max_request_bytes={self.max_request_bytes!r}, "
            f"watch_interval_seconds={self.watch_interval_seconds!r}, "
            f"outbox_retry_minutes={self.outbox_retry_minutes!r}, "
            f"journal_dir={self.journal_dir!r})"
        )


class SettingsError(Exception):
    """The environment cannot run the bot; `problems` says why, one per variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_environment(dotenv_path: str | None = ".env") -> dict[str, str]:
    """os.environ with `.env` merged under it, without changing os.environ.

    Pass the result to both `load_settings` and `bot.config.load_config`, so `${VAR}` in the
    config file can name variables that live in `.env`.
    """
    from_file: dict[str, str] = {}
    if dotenv_path is not None and os.path.isfile(dotenv_path):
        values = dotenv_values(dotenv_path)
        from_file = {key: value for key, value in values.items() if value is not None}
    return {**from_file, **os.environ}


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    dotenv_path: str | None = ".env",
    require_signing_secret: bool = True,
) -> Settings:
    """Read settings from `env`, or from the environment and `.env` when `env` is None."""
    if env is None:
        env = load_environment(dotenv_path)
    # An empty value (`SLACK_APP_TOKEN=` in .env) means "not set", and stray whitespace from
    # copy-pasting a token is never meant.
    values = {key: value.strip() for key, value in env.items() if value.strip()}
    problems: list[str] = []

    bot_token = _bot_token(values.get("SLACK_BOT_TOKEN"), problems)
    app_token = _app_token(values.get("SLACK_APP_TOKEN"), problems)
    signing_secret = values.get("SLACK_SIGNING_SECRET")
    # Socket Mode needs no signing secret: Slack never calls us, we connect out.
    if signing_secret is None and require_signing_secret and app_token is None:
        problems.append(
            "SLACK_SIGNING_SECRET: not set; the HTTP endpoint needs it to check that requests "
            "come from Slack (app settings > Basic Information > Signing Secret), or set "
            "SLACK_APP_TOKEN to use Socket Mode instead"
        )
    api_url = _api_url(values.get("SLACK_API_URL"), problems)
    port = _whole_number("PORT", values.get("PORT"), DEFAULT_PORT, 1, 65535, problems)
    worker_threads = _whole_number(
        "WORKER_THREADS", values.get("WORKER_THREADS"), DEFAULT_WORKER_THREADS, 1, 1000, problems
    )
    max_pending = _whole_number(
        "MAX_PENDING", values.get("MAX_PENDING"), DEFAULT_MAX_PENDING, 0, 100_000, problems
    )
    follow_limit = _whole_number(
        "FOLLOW_LIMIT_MINUTES",
        values.get("FOLLOW_LIMIT_MINUTES"),
        DEFAULT_FOLLOW_LIMIT_MINUTES,
        1,
        30 * 24 * 60,
        problems,
    )
    max_request_bytes = _whole_number(
        "MAX_REQUEST_BYTES",
        values.get("MAX_REQUEST_BYTES"),
        DEFAULT_MAX_REQUEST_BYTES,
        64 * 1024,
        64 * 1024 * 1024,
        problems,
    )
    watch_interval = _whole_number(
        "WATCH_INTERVAL_SECONDS",
        values.get("WATCH_INTERVAL_SECONDS"),
        DEFAULT_WATCH_INTERVAL_SECONDS,
        1,
        3600,
        problems,
    )
    outbox_retry = _whole_number(
        "OUTBOX_RETRY_MINUTES",
        values.get("OUTBOX_RETRY_MINUTES"),
        DEFAULT_OUTBOX_RETRY_MINUTES,
        1,
        24 * 60,
        problems,
    )
    database_url = _database_url(values.get("DATABASE_URL", DEFAULT_DATABASE_URL), problems)
    audit_days = values.get("AUDIT_RETENTION_DAYS")
    audit_retention = (
        None
        if audit_days is None
        else _whole_number("AUDIT_RETENTION_DAYS", audit_days, 0, 1, 100 * 366, problems)
    )

    if problems:
        raise SettingsError(problems)
    assert bot_token is not None  # a missing one is a problem above
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        port=port,
        config_path=values.get("CHATOPS_CONFIG", DEFAULT_CONFIG_PATH),
        database_url=database_url,
        worker_threads=worker_threads,
        max_pending=max_pending,
        follow_limit_minutes=follow_limit,
        audit_retention_days=audit_retention,
        max_request_bytes=max_request_bytes,
        watch_interval_seconds=watch_interval,
        outbox_retry_minutes=outbox_retry,
        journal_dir=values.get("JOURNAL_DIR", "").strip() or None,
    )


def _got_token(value: str) -> str:
    """Which kind of token was given instead, without showing any of its secret part."""
    match = _TOKEN_KIND.match(value)
    return f", got a {match.group(0)} token" if match else ""


def _bot_token(value: str | None, problems: list[str]) -> str | None:
    where = "app settings > OAuth & Permissions > Bot User OAuth Token"
    if value is None:
        problems.append(f"SLACK_BOT_TOKEN: not set; set it to the bot token, xoxb-... ({where})")
        return None
    if not value.startswith("xoxb-"):
        problems.append(
            f"SLACK_BOT_TOKEN: must be the bot token, starting with xoxb- ({where})"
            f"{_got_token(value)}"
        )
        return None
    return value


def _app_token(value: str | None, problems: list[str]) -> str | None:
    if value is not None and not value.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN: must be an app-level token, starting with xapp- (app settings > "
            "Basic Information > App-Level Tokens, with connections:write), or unset it to "
            f"serve HTTP{_got_token(value)}"
        )
        return None
    return value


def _api_url(value: str | None, problems: list[str]) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or "@" in value:
        problems.append(
            "SLACK_API_URL: must be an http:// or https:// URL like https://slack.com/api/, "
            "or unset for Slack's own"
        )
        return None
    # The Slack SDK appends method names to it, so it must end with "/".
    return value if value.endswith("/") else value + "/"


def _whole_number(
    name: str, value: str | None, default: int, low: int, high: int, problems: list[str]
) -> int:
    if value is None:
        return default
    # The length check keeps int() away from absurd inputs; isdigit() alone admits "²".
    digits = len(value) <= len(str(high)) and value.isascii() and value.isdigit()
    if digits and low <= int(value) <= high:
        return int(value)
    shown = value if len(value) <= 20 else value[:17] + "..."
    problems.append(f"{name}: must be a whole number from {low} to {high}, got {shown!r}")
    return default


def _database_url(value: str, problems: list[str]) -> str:
    # Heroku sets postgres://, which SQLAlchemy 2 no longer accepts.
    if value.startswith("postgres://"):
        value = "postgresql://" + value.removeprefix("postgres://")
    if not _URL_SCHEME.match(value):
        # Not echoed: it may hold a database password.
        problems.append(
            "DATABASE_URL: must be a database URL like postgresql://user:password@host/db "
            f"or {DEFAULT_DATABASE_URL}, or unset for a local SQLite file"
        )
    return value
