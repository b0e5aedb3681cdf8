"""Process settings from the environment: Slack credentials, the port, where config and state live.

`.env` in the working directory is read too (python-dotenv), but real environment variables win,
so a deployment platform's settings always beat a developer's leftover file; the process's ways in
also export it to `os.environ` for the parts that read that (bot/config/environment.py). Every
variable, its default and bounds, is in bot/config/variables.py. All problems are collected into
one `SettingsError` that names each variable and what to do about it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.config.variables import problem_of, variable

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


def _default(name: str) -> int:
    default = variable(name).default
    assert default is not None
    return int(default)


# The defaults are the table's (bot/config/variables.py); these names are for the code.
DEFAULT_PORT = _default("PORT")
DEFAULT_CONFIG_PATH = variable("CHATOPS_CONFIG").default or "chatops.yml"
DEFAULT_DATABASE_URL = variable("DATABASE_URL").default or "sqlite:///chatops.db"
DEFAULT_WORKER_THREADS = _default("WORKER_THREADS")
DEFAULT_MAX_PENDING = _default("MAX_PENDING")
DEFAULT_FOLLOW_LIMIT_MINUTES = _default("FOLLOW_LIMIT_MINUTES")  # a run going after a day
DEFAULT_WATCH_INTERVAL_SECONDS = _default("WATCH_INTERVAL_SECONDS")
DEFAULT_OUTBOX_RETRY_MINUTES = _default("OUTBOX_RETRY_MINUTES")
# Slack's largest legitimate bodies (a view submission, a click on a 50-block message) are tens
# of KiB; anything bigger is refused before it is read (bot/serve/request_limits.py).
DEFAULT_MAX_REQUEST_BYTES = _default("MAX_REQUEST_BYTES")

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
    problems: list[str] = []

    def value(name: str) -> str | None:
        # Only names the table describes are read (variable() raises on any other). An empty
        # value (`SLACK_APP_TOKEN=` in .env) means "not set", and stray whitespace from
        # copy-pasting a token is never meant.
        variable(name)
        return env.get(name, "").strip() or None

    def number(name: str) -> int:
        var = variable(name)
        raw = value(name)
        problem = None if raw is None else problem_of(var, raw)
        if problem is not None:
            problems.append(f"{name}: {problem}")
        if raw is None or problem is not None:
            return int(var.default) if var.default is not None else 0
        return int(raw)

    bot_token = _bot_token(value("SLACK_BOT_TOKEN"), problems)
    app_token = _app_token(value("SLACK_APP_TOKEN"), problems)
    signing_secret = value("SLACK_SIGNING_SECRET")
    # Socket Mode needs no signing secret: Slack never calls us, we connect out.
    if signing_secret is None and require_signing_secret and app_token is None:
        problems.append(
            "SLACK_SIGNING_SECRET: not set; the HTTP endpoint needs it to check that requests "
            "come from Slack (app settings > Basic Information > Signing Secret), or set "
            "SLACK_APP_TOKEN to use Socket Mode instead"
        )
    api_url = _api_url(value("SLACK_API_URL"), problems)
    port = number("PORT")
    worker_threads = number("WORKER_THREADS")
    max_pending = number("MAX_PENDING")
    follow_limit = number("FOLLOW_LIMIT_MINUTES")
    max_request_bytes = number("MAX_REQUEST_BYTES")
    watch_interval = number("WATCH_INTERVAL_SECONDS")
    outbox_retry = number("OUTBOX_RETRY_MINUTES")
    database_url = _database_url(value("DATABASE_URL") or DEFAULT_DATABASE_URL, problems)
    audit_retention = number("AUDIT_RETENTION_DAYS") if value("AUDIT_RETENTION_DAYS") else None
    config_path = value("CHATOPS_CONFIG") or DEFAULT_CONFIG_PATH

    if problems:
        raise SettingsError(problems)
    assert bot_token is not None  # a missing one is a problem above
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        port=port,
        config_path=config_path,
        database_url=database_url,
        worker_threads=worker_threads,
        max_pending=max_pending,
        follow_limit_minutes=follow_limit,
        audit_retention_days=audit_retention,
        max_request_bytes=max_request_bytes,
        watch_interval_seconds=watch_interval,
        outbox_retry_minutes=outbox_retry,
        journal_dir=value("JOURNAL_DIR") or None,
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


def _database_url(value: str, problems: list[str]) -> str:
    # Heroku sets postgres://, which the store's database library no longer accepts.
    if value.startswith("postgres://"):
        value = "postgresql://" + value.removeprefix("postgres://")
    if not _URL_SCHEME.match(value):
        # Not echoed: it may hold a database password.
        problems.append(
            "DATABASE_URL: must be a database URL like postgresql://user:password@host/db "
            f"or {DEFAULT_DATABASE_URL}, or unset for a local SQLite file"
        )
    return value
