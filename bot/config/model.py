"""The config as the bot uses it: frozen dataclasses for the file, its deployments and grants.

`parse_config` builds them once the file has passed every check; nothing in them is read from
the file or the environment again. Reprs never show a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

__all__ = [
    "API_VERSIONS",
    "ASTRO_AUDIENCE",
    "ASTRO_TOKEN_URL",
    "DEFAULT_CONFIRM_TIMEOUT",
    "DEFAULT_EVENTS",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_QUEUED_AFTER",
    "EVENTS",
    "MIN_LONG_AFTER",
    "MWAA_MODES",
    "WEEKDAYS",
    "ClientCredentials",
    "Config",
    "Deadline",
    "Deployment",
    "Grant",
    "MwaaEnvironment",
    "Subscription",
    "WatchOptions",
]

API_VERSIONS: tuple[str, ...] = ("auto", "v1", "v2")
DEFAULT_MAX_IN_FLIGHT = 16  # a default Airflow 3 api-server was seen to hang at 24, not 16
DEFAULT_CONFIRM_TIMEOUT = 600.0  # a confirmation or approval left longer is likely forgotten
# What a subscription can watch for: a run that failed, one that succeeded, a task waiting
# for a human (Airflow 3.1+), and the trouble Airflow makes no sound about: a run running too
# long, a run or task queued too long, a DAG with no success by a deadline, a DAG file that
# does not import.
EVENTS: tuple[str, ...] = (
    "failed", "success", "hitl", "long", "queued", "late", "import_errors",
)  # fmt: skip
DEFAULT_EVENTS = frozenset({"failed"})
DEFAULT_QUEUED_AFTER = 15 * 60.0  # seconds a run or task may wait in the queue unremarked
MIN_LONG_AFTER = 10 * 60.0  # the automatic `long` limit (twice the usual run) is never less
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Astronomer's Deployment API keys are exchanged here, for this audience (its OAuth2 server).
ASTRO_TOKEN_URL = "https://auth.astronomer.io/oauth/token"  # noqa: S105 (a URL, not a secret)
ASTRO_AUDIENCE = "astronomer-ee"
MWAA_MODES: tuple[str, ...] = ("login", "invoke")


@dataclass(frozen=True)
class ClientCredentials:
    """An OAuth2 client (an Astro Deployment API key, say), exchanged for a bearer token."""

    client_id: str
    client_secret: str
    token_url: str = ASTRO_TOKEN_URL
    audience: str | None = ASTRO_AUDIENCE
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(client_id={self.client_id!r}, client_secret=***, "
            f"token_url={self.token_url!r}, audience={self.audience!r}, scope={self.scope!r})"
        )


@dataclass(frozen=True)
class MwaaEnvironment:
    """An Amazon MWAA environment: reached through a web login (``login``) or InvokeRestApi."""

    environment: str
    region: str
    mode: str = "login"


@dataclass(frozen=True)
class Deployment:
    """One Airflow deployment the bot talks to, as named in Slack."""

    name: str
    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    api_version: str = "auto"
    confirm: bool = False
    timeout: float = 10.0
    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT
    approvers: frozenset[str] = frozenset()  # user IDs who may approve
    approver_groups: frozenset[str] = frozenset()  # user groups whose members may approve
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # Airflow calls at once to this deployment
    client_credentials: ClientCredentials | None = None  # OAuth2 client credentials
    google: bool = False  # Google's Application Default Credentials (Cloud Composer)
    mwaa: MwaaEnvironment | None = None  # Amazon MWAA: no url; AWS credentials as boto3 finds them

    @property
    def needs_approval(self) -> bool:
        return bool(self.approvers or self.approver_groups)

    @property
    def auth(self) -> str:
        """How the bot signs in: token, password, oauth2, google or mwaa."""
        if self.client_credentials is not None:
            return "oauth2"
        if self.google:
            return "google"
        if self.mwaa is not None:
            return "mwaa"
        return "token" if self.token is not None else "password"

    @property
    def where(self) -> str:
        """Where it is, for people: its URL, or the MWAA environment AWS will name a URL for."""
        if self.mwaa is not None:
            return f"MWAA {self.mwaa.environment} in {self.mwaa.region}"
        return self.url

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this deployment holds, for the masks of logs and doctor's report."""
        oauth = self.client_credentials
        values = (self.token, self.password, oauth.client_secret if oauth else None)
        return tuple(v for v in values if v)

    def __repr__(self) -> str:
        # Reprs end up in logs and tracebacks: never let a secret through.
        token = "***" if self.token is not None else None
        password = "***" if self.password is not None else None
        return (
            f"Deployment(name={self.name!r}, url={self.url!r}, token={token!s}, "
            f"username={self.username!r}, password={password!s}, "
            f"api_version={self.api_version!r}, confirm={self.confirm!r}, "
            f"timeout={self.timeout!r}, confirm_timeout={self.confirm_timeout!r}, "
            f"approvers={sorted(self.approvers | self.approver_groups)!r}, auth={self.auth!r}, "
            f"client_credentials={self.client_credentials!r}, mwaa={self.mwaa!r})"
        )


@dataclass(frozen=True)
class Grant:
    """Lets some users (directly or through user groups) use a role's verbs, maybe narrowed."""

    role: str
    users: frozenset[str] = frozenset()
    usergroups: frozenset[str] = frozenset()
    channels: frozenset[str] | None = None  # None: in any channel
    deployments: frozenset[str] | None = None  # None: on every deployment
    dags: tuple[str, ...] | None = None  # fnmatch patterns; None: every DAG


@dataclass(frozen=True)
class Deadline:
    """``late``: by ``at`` (wall-clock time in ``zone``) on ``days``, each DAG has succeeded
    within the ``window`` before."""

    at: time
    zone: str = "UTC"  # an IANA time zone name
    days: frozenset[int] = frozenset(range(7))  # Monday is 0
    window_seconds: float = 24 * 3600.0


@dataclass(frozen=True)
class WatchOptions:
    """The limits of a subscription's silent-trouble events (``long``, ``queued``, ``late``)."""

    long_after: float | None = None  # seconds; None: twice the DAG's usual duration
    queued_after: float = DEFAULT_QUEUED_AFTER
    late: Deadline | None = None  # set exactly when the events include ``late``


@dataclass(frozen=True)
class Subscription:
    """A channel watching a deployment's DAGs matching ``dag_glob`` for ``events``."""

    channel_id: str
    deployment: str
    dag_glob: str
    events: frozenset[str]
    options: WatchOptions = field(default_factory=WatchOptions)


@dataclass(frozen=True)
class VerbFacts:
    """What the config is checked against from the verb registry (commands/), handed to the
    loader by the composition root: the config knows no verb by name."""

    builtin_roles: Mapping[str, frozenset[str]]  # viewer, operator: their verbs
    granted: frozenset[str]  # the verbs a role may grant
    open: frozenset[str]  # the verbs anyone may use, with no grant
    words: frozenset[str]  # every verb: a deployment may not be named like one


@dataclass(frozen=True)
class Config:
    """The validated config file."""

    deployments: dict[str, Deployment]
    channels: dict[str, str]
    roles: dict[str, frozenset[str]]
    grants: tuple[Grant, ...]
    audit_channel: str | None = None
    subscriptions: tuple[Subscription, ...] = ()  # declared in the file (more are made in Slack)
    # Slack user ID -> the Airflow user (id or name) it is, for human-in-the-loop assignees.
    airflow_users: dict[str, str] = field(default_factory=dict)

    def default_deployment(self, channel_id: str) -> str | None:
        """The channel's default deployment, else the only one configured, else None."""
        if channel_id in self.channels:
            return self.channels[channel_id]
        if len(self.deployments) == 1:
            return next(iter(self.deployments))
        return None
