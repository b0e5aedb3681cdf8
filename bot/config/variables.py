"""Every environment variable the bot, or a library it runs, reads: the one table of them.

Each is described here once: what it means, its default, its bounds and which part of the
process reads it. The settings loader, gunicorn's settings and the log set-up take their
defaults and bounds from here; the doctor checks every variable named here; and
tests/unit/test_variables.py checks that ``app.json``, ``.env.example`` and the table in
docs/operating.md ("Running it") name exactly these (a variable missing from one of them fails
it). Adding a variable is one entry below, then what that test asks for.

Names a config file refers to as ``${VAR}`` are the operator's own and are not listed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "LOG_LEVELS",
    "VARIABLES",
    "Reader",
    "Variable",
    "markdown_table",
    "problem_of",
    "variable",
    "whole_number",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Reader(StrEnum):
    """The part of the process that reads a variable: where a wrong value shows."""

    SETTINGS = "the bot's settings"  # bot/config/settings.py, at start-up
    GUNICORN = "gunicorn"  # bot/serve/gunicorn_conf.py, before the app is loaded
    LOGGING = "logging"  # bot/serve/logs.py
    REQUESTS = "requests"  # bot/airflow/transport.py, as requests itself reads them
    GOOGLE = "google-auth (`auth: google`)"
    BOTO3 = "boto3 (`auth: mwaa`)"


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str  # Markdown, one line: the cell of docs/operating.md's table
    readers: tuple[Reader, ...]
    default: str | None = None  # as the operator would write it; None: unset
    low: int | None = None  # a whole number from low to high
    high: int | None = None
    choices: tuple[str, ...] = ()  # one of these, in any case
    secret: bool = False
    required: bool = False
    # app.json describes the Heroku `web` process: what the platform sets itself, or what that
    # process never reads, is left out of it.
    in_app_json: bool = True

    @property
    def whole(self) -> bool:
        return self.low is not None and self.high is not None


def _whole(
    name: str, meaning: str, default: int | None, low: int, high: int, *readers: Reader
) -> Variable:
    return Variable(
        name,
        meaning,
        readers or (Reader.SETTINGS,),
        default=None if default is None else str(default),
        low=low,
        high=high,
    )


_S = Reader.SETTINGS

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "SLACK_BOT_TOKEN", "bot token (`xoxb-...`), required", (_S,), secret=True, required=True
    ),
    Variable(
        "SLACK_SIGNING_SECRET",
        "required over HTTP: every request is checked with it",
        (_S,),
        secret=True,
        required=True,
    ),
    Variable(
        "SLACK_APP_TOKEN",
        "app token (`xapp-...`): when set, the bot connects over Socket Mode",
        (_S,),
        secret=True,
        in_app_json=False,
    ),
    Variable(
        "SLACK_API_URL",
        "base URL of the Slack Web API; unset: Slack's own (GovSlack and tests set it)",
        (_S,),
    ),
    Variable(
        "PORT",
        "HTTP port gunicorn binds (Heroku sets it)",
        (Reader.SETTINGS, Reader.GUNICORN),
        default="3000",
        low=1,
        high=65535,
        in_app_json=False,  # the platform sets it
    ),
    Variable("CHATOPS_CONFIG", "path of the YAML config", (_S,), default="chatops.yml"),
    Variable(
        "DATABASE_URL",
        "the state store; `postgres://...` as Heroku sets it",
        (_S,),
        default="sqlite:///chatops.db",
    ),
    _whole(
        "WORKER_THREADS",
        "commands worked on at once; a command waiting for Airflow steps aside for the next one "
        "(calls to one Airflow are capped by its `max_in_flight`)",
        32,
        1,
        1000,
    ),
    _whole(
        "MAX_PENDING",
        'commands waiting for a worker before new ones are told "busy"',
        1000,
        0,
        100_000,
    ),
    _whole(
        "FOLLOW_LIMIT_MINUTES",
        "how long the bot follows a triggered run before saying it gave up (1440: 24 h)",
        24 * 60,
        1,
        30 * 24 * 60,
    ),
    _whole(
        "WATCH_INTERVAL_SECONDS",
        "how often each watched deployment (one a channel subscribes to) is asked for runs that "
        "ended",
        15,
        1,
        3600,
    ),
    _whole(
        "OUTBOX_RETRY_MINUTES",
        "how long a message Slack does not take (its 5xx, 429, a timeout) is tried again before "
        "it is logged as undeliverable",
        60,
        1,
        24 * 60,
    ),
    Variable(
        "JOURNAL_DIR",
        "the folder on local disk where each process writes down the requests it acknowledged, "
        "shared by the processes of one machine; unset: one in the system's temporary folder, "
        "named for the store",
        (_S,),
        in_app_json=False,  # a dyno's own disk: the default is right there
    ),
    _whole(
        "AUDIT_RETENTION_DAYS",
        "delete audit rows older than this many days; unset: the audit trail is kept for ever",
        None,
        1,
        100 * 366,
    ),
    _whole(
        "MAX_REQUEST_BYTES",
        "largest request body (and Socket Mode message) accepted (1048576: 1 MiB); a larger "
        "body is answered 413 and discarded unparsed",
        1024 * 1024,
        64 * 1024,
        64 * 1024 * 1024,
        Reader.SETTINGS,
        Reader.GUNICORN,
    ),
    _whole(
        "WEB_CONCURRENCY",
        "gunicorn processes (2 for a 2-core dyno); they share each deployment's "
        "`max_in_flight` and the Airflow reads they have in flight",
        2,
        1,
        64,
        Reader.GUNICORN,
    ),
    _whole("WEB_THREADS", "request threads in each gunicorn process", 8, 1, 256, Reader.GUNICORN),
    Variable(
        "LOG_LEVEL",
        "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`",
        (Reader.LOGGING,),
        default="INFO",
        choices=LOG_LEVELS,
    ),
    Variable(
        "REQUESTS_CA_BUNDLE",
        "a CA bundle to trust, for an Airflow or a token endpoint whose certificate a private "
        "authority signed",
        (Reader.REQUESTS,),
    ),
    Variable(
        "CURL_CA_BUNDLE",
        "read when `REQUESTS_CA_BUNDLE` is not set, as requests does",
        (Reader.REQUESTS,),
    ),
    Variable(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "a service account's key file, for Cloud Composer off Google Cloud",
        (Reader.GOOGLE,),
    ),
    Variable(
        "AWS_ACCESS_KEY_ID",
        "the bot's AWS access key, for MWAA, unless the host has an IAM role",
        (Reader.BOTO3,),
        secret=True,
    ),
    Variable("AWS_SECRET_ACCESS_KEY", "its secret", (Reader.BOTO3,), secret=True),
    Variable(
        "AWS_SESSION_TOKEN",
        "with temporary AWS credentials, their session token",
        (Reader.BOTO3,),
        secret=True,
    ),
    Variable(
        "AWS_PROFILE",
        "a profile of `~/.aws/config` to take AWS credentials from",
        (Reader.BOTO3,),
        in_app_json=False,  # a dyno has no ~/.aws
    ),
    Variable(
        "AWS_ENDPOINT_URL_MWAA",
        "MWAA's API through a VPC endpoint; unset: AWS's public one",
        (Reader.BOTO3,),
    ),
)

_BY_NAME = {v.name: v for v in VARIABLES}


def variable(name: str) -> Variable:
    """The table's entry; KeyError for a name it does not describe (so none is read unlisted)."""
    return _BY_NAME[name]


def problem_of(var: Variable, value: str) -> str | None:
    """What is wrong with ``value`` for ``var``, as the operator should read it; None if fine."""
    value = value.strip()
    if not value:
        return None  # empty means unset: the default
    if var.whole:
        assert var.low is not None and var.high is not None
        # The length check keeps int() away from absurd inputs; isdigit() alone admits "²".
        digits = len(value) <= len(str(var.high)) and value.isascii() and value.isdigit()
        if not (digits and var.low <= int(value) <= var.high):
            shown = value if len(value) <= 20 else value[:17] + "..."
            return f"must be a whole number from {var.low} to {var.high}, got {shown!r}"
    if var.choices and value.upper() not in var.choices:
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"must be one of {', '.join(var.choices)}, got {shown!r}"
    return None


def whole_number(name: str, env: Mapping[str, str] | None = None) -> int:
    """A whole-number variable's value, or its default when unset or empty.

    For the parts that read the environment before the settings loader runs (gunicorn's
    settings): a wrong value stops the process with the variable named, not a traceback.
    """
    var = variable(name)
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        assert var.default is not None, f"{name} has no default"
        return int(var.default)
    problem = problem_of(var, raw)
    if problem is not None:
        raise SystemExit(f"{name}: {problem}")
    return int(raw)


def markdown_table() -> str:
    """The table of variables in docs/operating.md, as it must read
    (``python -m bot.config.variables`` prints it)."""
    lines = ["| variable | default | meaning | read by |", "| --- | --- | --- | --- |"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default is not None else ""
        readers = ", ".join(r.value for r in var.readers)
        lines.append(f"| `{var.name}` | {default} | {var.meaning} | {readers} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
