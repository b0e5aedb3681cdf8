"""The YAML config: which Airflow deployments exist, and who may do what on them.

`parse_config` turns the file's text into a `Config` or raises one `ConfigError` listing every
problem by its path in the file, so a broken config stops the bot at start-up with everything
the operator needs to fix it, not just the first mistake. Secrets are never written in the file:
`token` and `password` must be `${VAR}` references, filled from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.config.checker import Checker, did_you_mean, key_path, kind_of, show
from bot.config.model import (
    API_VERSIONS,
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT,
    Config,
    Deployment,
    Grant,
)
from bot.config.roles import BUILTIN_ROLES, COMMAND_WORDS, KNOWN_VERBS, OPEN_VERBS

__all__ = [
    "API_VERSIONS",
    "BUILTIN_ROLES",
    "COMMAND_WORDS",
    "KNOWN_VERBS",
    "OPEN_VERBS",
    "Config",
    "ConfigError",
    "Deployment",
    "Grant",
    "load_config",
    "parse_config",
]

MAX_TIMEOUT = 300.0

_TOP_KEYS = ("deployments", "channels", "roles", "grants", "audit_channel")
_DEPLOYMENT_KEYS = (
    "url",
    "token",
    "username",
    "password",
    "api_version",
    "confirm",
    "confirm_timeout",
    "approvers",
    "timeout",
    "max_in_flight",
)
MAX_CONFIRM_TIMEOUT = 7 * 24 * 3600.0
_GRANT_KEYS = ("role", "users", "usergroups", "channels", "deployments", "dags")
_GRANT_LIST_EXAMPLES = {
    "users": "[U012ABCDEF]",
    "usergroups": "[S0123ABCD]",
    "channels": "[C0123ABCD]",
    "deployments": "[prod]",
    "dags": '["etl_*"]',
}

_DEPLOYMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


class ConfigError(Exception):
    """The config cannot be used; `problems` says why, each as "path: what is wrong"."""

    def __init__(self, problems: Iterable[str], *, source: str = "chatops.yml") -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


def load_config(path: str | os.PathLike[str], env: Mapping[str, str]) -> Config:
    """Read and validate the config file at `path`, filling `${VAR}` from `env`."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"config file not found (looked for {os.path.abspath(source)}); create it, "
                "or set CHATOPS_CONFIG to its path"
            ],
            source=source,
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"], source=source
        ) from None
    except OSError as exc:
        raise ConfigError(
            [f"cannot read the config file: {exc.strerror or exc}; check CHATOPS_CONFIG"],
            source=source,
        ) from None
    return parse_config(text, env, source=source)


def parse_config(text: str, env: Mapping[str, str], *, source: str = "chatops.yml") -> Config:
    """Validate config text, filling `${VAR}` from `env`; raise one ConfigError for all problems."""
    data = _load_yaml(text, source)
    checker = Checker(env)
    config = _config(checker, data)
    if checker.problems:
        raise ConfigError(checker.redacted_problems(), source=source)
    return config


# --- YAML ---------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys.

    PyYAML silently keeps the last of two equal keys, so a second `prod:` would quietly
    replace the first deployment.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            # Merge keys (`<<`) may override on purpose; only plain scalar keys can clash here.
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                first_line = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {show(key)} (first on line {first_line})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc)], source=source) from None
    except RecursionError:
        raise ConfigError(["invalid YAML: nested too deeply"], source=source) from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's constructors let out whatever parsing a scalar raises: ValueError for a date
        # like 2024-02-30, AttributeError for `!!timestamp x`, and so on. The loader promises
        # ConfigError for any input, so the user gets a message rather than a traceback.
        raise ConfigError(
            [f"invalid YAML: {exc or type(exc).__name__} (quote the value if it is meant as text)"],
            source=source,
        ) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Build the message ourselves: PyYAML's own quotes lines of the file, which may hold secrets.
    if isinstance(exc, yaml.reader.ReaderError):
        return f"position {exc.position}: invalid YAML: {exc.reason} (character {exc.character!r})"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    what = exc.problem or exc.context or "not valid"
    if exc.context and exc.problem:
        what = f"{exc.problem} ({exc.context})"
    hint = ""
    if "'\\t'" in what:
        hint = "; YAML indents with spaces, not tabs"
    elif isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError):
        hint = "; quote values that contain ': ' or start with one of {}[]&*!|>'\"%@`"
    return f"{where}invalid YAML: {what}{hint}"


# --- sections -----------------------------------------------------------------------------


def _config(c: Checker, data: object) -> Config:
    if data is None:
        top = None
        c.problem("", "the file is empty; it needs at least a deployments: section")
    else:
        top = c.mapping("", data, "a mapping with a deployments: section at the top level")
    if top is None:
        # Nothing below the top can be read: one problem says it all.
        return Config(deployments={}, channels={}, roles=dict(BUILTIN_ROLES), grants=())
    c.known_keys("", top, _TOP_KEYS, extensions=True)

    # Names that are merely broken inside still count as configured, so that one mistake
    # in a deployment is not reported again wherever it is referred to.
    raw_deployments = top.get("deployments")
    names = (
        {k for k in raw_deployments if isinstance(k, str)}
        if isinstance(raw_deployments, dict)
        else set()
    )
    deployments = _deployments(c, raw_deployments)
    channels = _channels(c, top.get("channels"), names)
    roles, role_names = _roles(c, top.get("roles"))
    grants = _grants(c, top.get("grants"), role_names, names)
    audit = top.get("audit_channel")
    audit_channel = None if audit is None else _slack_id(c, "audit_channel", audit, _CHANNEL)
    return Config(
        deployments=deployments,
        channels=channels,
        roles=roles,
        grants=grants,
        audit_channel=audit_channel,
    )


def _deployments(c: Checker, raw: object) -> dict[str, Deployment]:
    example = "deployments: {prod: {url: https://..., token: ${ASTRO_PROD_TOKEN}}}"
    if raw is None or raw == {}:
        c.problem("deployments", f"at least one deployment is required, like {example}")
        return {}
    entries = c.mapping("deployments", raw, f"a mapping of names to deployments, like {example}")
    deployments: dict[str, Deployment] = {}
    for name, body in (entries or {}).items():
        path = key_path("deployments", name)
        if _deployment_name_ok(c, path, name):
            deployment = _deployment(c, path, name, body)
            if deployment is not None:
                deployments[name] = deployment
    return deployments


def _deployment_name_ok(c: Checker, path: str, name: object) -> bool:
    if not isinstance(name, str):
        c.problem(path, f"a deployment name must be text, got {kind_of(name)}; quote it")
        return False
    if name in COMMAND_WORDS:
        c.problem(path, f"{name!r} is a command word; name the deployment something else")
        return False
    if not _DEPLOYMENT_NAME.fullmatch(name):
        c.problem(
            path,
            "a deployment name is typed in Slack: use 1-40 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit",
        )
        return False
    return True


def _deployment(c: Checker, path: str, name: str, body: object) -> Deployment | None:
    fields = c.mapping(path, body, "a mapping with url and token (or username and password)")
    if fields is None:
        return None
    c.known_keys(path, fields, _DEPLOYMENT_KEYS)
    before = len(c.problems)
    url = _url(c, key_path(path, "url"), fields.get("url"))
    token, username, password = _auth(c, path, fields)
    api_version = _api_version(c, key_path(path, "api_version"), fields.get("api_version", "auto"))
    confirm = fields.get("confirm", False)
    if not isinstance(confirm, bool):
        c.problem(key_path(path, "confirm"), f"must be true or false, got {show(confirm)}")
    timeout = _timeout(c, key_path(path, "timeout"), fields.get("timeout", 10.0))
    confirm_timeout = _confirm_timeout(c, key_path(path, "confirm_timeout"), fields)
    approvers, approver_groups = _approvers(c, key_path(path, "approvers"), fields.get("approvers"))
    in_flight = fields.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or not 1 <= in_flight <= 256:
        c.problem(
            key_path(path, "max_in_flight"),
            f"must be a whole number of calls from 1 to 256, got {show(in_flight)}",
        )
        in_flight = DEFAULT_MAX_IN_FLIGHT
    if len(c.problems) > before or url is None or not isinstance(confirm, bool):
        return None
    return Deployment(
        name=name,
        url=url,
        token=token,
        username=username,
        password=password,
        api_version=api_version or "auto",
        confirm=confirm,
        timeout=timeout or 10.0,
        confirm_timeout=confirm_timeout or DEFAULT_CONFIRM_TIMEOUT,
        approvers=approvers,
        approver_groups=approver_groups,
        max_in_flight=in_flight,
    )


def _confirm_timeout(c: Checker, path: str, fields: Mapping[Any, Any]) -> float | None:
    raw = fields.get("confirm_timeout", DEFAULT_CONFIRM_TIMEOUT)
    if (
        isinstance(raw, int | float)
        and not isinstance(raw, bool)
        and 0 < raw <= MAX_CONFIRM_TIMEOUT
    ):
        return float(raw)
    c.problem(path, f"must be a number of seconds above 0 and at most 604800, got {show(raw)}")
    return None


def _approvers(c: Checker, path: str, raw: object) -> tuple[frozenset[str], frozenset[str]]:
    """Who may approve actions here (four eyes): Slack user IDs and user group IDs, mixed."""
    if raw is None:
        return frozenset(), frozenset()
    items = c.sequence(path, raw, "[U012ABCDEF, S0123ABCD]: user IDs and user group IDs")
    if items is not None and not items:
        c.problem(path, "is empty, so nobody could approve; remove it to need no approval")
    users: set[str] = set()
    groups: set[str] = set()
    for index, item in enumerate(items or []):
        item_path = f"{path}[{index}]"
        if isinstance(item, str) and item.strip().upper().startswith("S"):
            group = _slack_id(c, item_path, item, _USERGROUP)
            if group:
                groups.add(group)
        else:
            user = _slack_id(c, item_path, item, _USER)
            if user:
                users.add(user)
    return frozenset(users), frozenset(groups)


def _url(c: Checker, path: str, raw: object) -> str | None:
    if raw is None:
        c.problem(path, "required: the Airflow base URL, like https://airflow.example.com")
        return None
    text = c.string(path, raw)
    if text is None:
        return None
    url = text.strip()
    # Never echo a URL that may carry a password or a token in it.
    shown = "" if "@" in url or "?" in url else f", got {show(url)}"
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        c.problem(path, f"is not a valid URL{shown}")
        return None
    if parts.scheme.lower() not in ("http", "https"):
        c.problem(path, f"must start with http:// or https://{shown}")
    elif "@" in parts.netloc:
        c.problem(path, "must not hold credentials; use token, or username and password")
    elif not parts.hostname or not port_ok or any(ch.isspace() for ch in url):
        c.problem(path, f"is not a valid URL{shown}")
    elif parts.query or parts.fragment or url.endswith(("?", "#")):
        c.problem(path, "must not have a ?query or #fragment: give the base URL only")
    elif re.search(r"/api/v[0-9]+/*$", parts.path):
        c.problem(path, "give the base URL, without /api/v1 or /api/v2: the bot adds it")
    else:
        return url.rstrip("/")
    return None


def _auth(
    c: Checker, path: str, fields: Mapping[Any, Any]
) -> tuple[str | None, str | None, str | None]:
    has_token, has_username = "token" in fields, "username" in fields
    has_password = "password" in fields
    token = c.secret(key_path(path, "token"), fields["token"]) if has_token else None
    password = c.secret(key_path(path, "password"), fields["password"]) if has_password else None
    username = None
    if has_username:
        username = c.string(key_path(path, "username"), fields["username"])
        if username == "":
            c.problem(key_path(path, "username"), "is empty")
    if has_token and (has_username or has_password):
        c.problem(path, "use either token, or username and password, not both")
    elif has_username and not has_password:
        c.problem(path, "username needs a password: ${VAR} too")
    elif has_password and not has_username:
        c.problem(path, "password needs a username too")
    elif not (has_token or has_username):
        c.problem(
            path,
            "needs credentials: token: ${VAR} (an Astro API token), or username and "
            "password: ${VAR}",
        )
    return token, username, password


def _api_version(c: Checker, path: str, raw: object) -> str | None:
    choices = ", ".join(API_VERSIONS)
    if isinstance(raw, int) and not isinstance(raw, bool) and f"v{raw}" in API_VERSIONS:
        c.problem(path, f"must be one of {choices}: write v{raw}")
        return None
    value = c.string(path, raw) if isinstance(raw, str) else None
    if value in API_VERSIONS:
        return value
    if value is not None or not isinstance(raw, str):
        c.problem(path, f"must be one of {choices}, got {show(raw if value is None else value)}")
    return None


def _timeout(c: Checker, path: str, raw: object) -> float | None:
    # Compare before converting: float() of a huge YAML integer would overflow.
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 < raw <= MAX_TIMEOUT:
        return float(raw)
    c.problem(path, f"must be a number of seconds above 0 and at most 300, got {show(raw)}")
    return None


def _channels(c: Checker, raw: object, deployment_names: set[str]) -> dict[str, str]:
    if raw is None:
        return {}
    entries = c.mapping(
        "channels", raw, "a mapping of channel IDs to deployments, like C0123ABCD: prod"
    )
    channels: dict[str, str] = {}
    for channel, target in (entries or {}).items():
        path = key_path("channels", channel)
        if not isinstance(channel, str):
            c.problem(path, f"must be a Slack channel ID like C0123ABCD, got {kind_of(channel)}")
            continue
        channel_ok = _slack_id(c, path, channel, _CHANNEL, substitute=False) is not None
        name = _deployment_ref(c, path, target, deployment_names)
        if channel_ok and name is not None:
            channels[channel] = name
    return channels


def _deployment_ref(c: Checker, path: str, raw: object, names: set[str]) -> str | None:
    name = c.string(path, raw)
    if name is None or name in names:
        return name
    known = ", ".join(sorted(names)) or "none"
    c.problem(
        path,
        f"unknown deployment {show(name)}{did_you_mean(name, names)}; configured: {known}",
    )
    return None


def _roles(c: Checker, raw: object) -> tuple[dict[str, frozenset[str]], set[str]]:
    roles = dict(BUILTIN_ROLES)
    if raw is None:
        return roles, set(roles)
    entries = c.mapping("roles", raw, "a mapping of role names to verbs, like ops: [list, trigger]")
    names = set(roles) | {name for name in entries or {} if isinstance(name, str)}
    for name, verbs in (entries or {}).items():
        path = key_path("roles", name)
        if not isinstance(name, str) or not name.strip():
            c.problem(path, f"a role name must be non-empty text, got {show(name)}")
            continue
        granted = _verbs(c, path, verbs)
        if granted is not None:
            roles[name] = granted
    return roles, names


def _verbs(c: Checker, path: str, raw: object) -> frozenset[str] | None:
    items = c.sequence(path, raw, "[list, status, trigger]")
    if items is None:
        return None
    verbs: set[str] = set()
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        verb = c.string(item_path, item)
        if verb is None:
            continue
        if verb in KNOWN_VERBS:
            verbs.add(verb)
        elif verb in OPEN_VERBS:
            c.problem(item_path, f"{verb!r} is open to everyone, not a permission: remove it")
        else:
            hint = did_you_mean(verb, KNOWN_VERBS) or f" (verbs: {', '.join(sorted(KNOWN_VERBS))})"
            c.problem(item_path, f"unknown verb {show(verb)}{hint}")
    return frozenset(verbs)


# --- grants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _IdKind:
    """How one kind of Slack ID looks, and the hint for what people write instead."""

    pattern: re.Pattern[str]
    what: str
    instead: str


_CHANNEL = _IdKind(
    _CHANNEL_ID, "a Slack channel ID like C0123ABCD", "use the channel ID (C...), not its name"
)
_USER = _IdKind(
    _USER_ID, "a Slack user ID like U012ABCDEF", "use the Slack user ID (U...), not a display name"
)
_USERGROUP = _IdKind(
    _USERGROUP_ID,
    "a Slack user group ID like S0123ABCD",
    "use the user group ID (S...), not its handle",
)


def _slack_id(
    c: Checker, path: str, raw: object, kind: _IdKind, *, substitute: bool = True
) -> str | None:
    value = c.string(path, raw) if substitute else raw
    if not isinstance(value, str):
        return None
    if kind.pattern.fullmatch(value):
        return value
    if _looks_like_lower_case_id(value.strip(), kind):
        c.problem(path, f"Slack IDs are upper case with no spaces: write {value.strip().upper()}")
    else:
        c.problem(path, f"{show(value)} is not {kind.what}; {kind.instead}")
    return None


def _looks_like_lower_case_id(value: str, kind: _IdKind) -> bool:
    # Real IDs are 9+ characters with digits; without that test, "general" would be "GENERAL".
    return (
        len(value) >= 8
        and value.isalnum()
        and any(ch.isdigit() for ch in value)
        and kind.pattern.fullmatch(value.upper()) is not None
    )


def _grants(
    c: Checker, raw: object, role_names: set[str], deployment_names: set[str]
) -> tuple[Grant, ...]:
    if raw is None:
        return ()
    items = c.sequence("grants", raw, "[{role: operator, users: [U012ABCDEF]}]")
    grants = []
    for index, item in enumerate(items or []):
        grant = _grant(c, f"grants[{index}]", item, role_names, deployment_names)
        if grant is not None:
            grants.append(grant)
    return tuple(grants)


def _grant(
    c: Checker, path: str, raw: object, role_names: set[str], deployment_names: set[str]
) -> Grant | None:
    fields = c.mapping(path, raw, "a mapping with role and users or usergroups")
    if fields is None:
        return None
    c.known_keys(path, fields, _GRANT_KEYS)
    role = _role_ref(c, key_path(path, "role"), fields.get("role"), role_names)
    users = _ids(c, path, fields, "users", _USER)
    usergroups = _ids(c, path, fields, "usergroups", _USERGROUP)
    if not fields.get("users") and not fields.get("usergroups"):
        c.problem(path, "needs users: [U...] or usergroups: [S...]: who is this grant for?")
    channels = _ids(c, path, fields, "channels", _CHANNEL)
    deployments = _names(c, path, fields, "deployments", deployment_names)
    dags = _dags(c, path, fields)
    if role is None:
        return None
    return Grant(
        role=role,
        users=users or frozenset(),
        usergroups=usergroups or frozenset(),
        channels=channels,
        deployments=deployments,
        dags=dags,
    )


def _role_ref(c: Checker, path: str, raw: object, role_names: set[str]) -> str | None:
    known = ", ".join(sorted(role_names))
    if raw is None:
        c.problem(path, f"required: one of {known}")
        return None
    role = c.string(path, raw)
    if role is None or role in role_names:
        return role
    c.problem(path, f"unknown role {show(role)}{did_you_mean(role, role_names)}; roles: {known}")
    return None


def _restriction(c: Checker, path: str, fields: Mapping[Any, Any], key: str) -> list[Any] | None:
    """An optional list; absent means "no restriction", but an empty one is surely a mistake."""
    if key not in fields:
        return None
    item_path = key_path(path, key)
    items = c.sequence(item_path, fields[key], _GRANT_LIST_EXAMPLES[key])
    if items is not None and not items and key not in ("users", "usergroups"):
        c.problem(item_path, f"is empty, which allows nothing; remove {key} to allow any")
    return items


def _ids(
    c: Checker, path: str, fields: Mapping[Any, Any], key: str, kind: _IdKind
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    ids = (_slack_id(c, f"{key_path(path, key)}[{i}]", item, kind) for i, item in enumerate(items))
    return frozenset(value for value in ids if value is not None)


def _names(
    c: Checker, path: str, fields: Mapping[Any, Any], key: str, names: set[str]
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    refs = (
        _deployment_ref(c, f"{key_path(path, key)}[{i}]", item, names)
        for i, item in enumerate(items)
    )
    return frozenset(name for name in refs if name is not None)


def _dags(c: Checker, path: str, fields: Mapping[Any, Any]) -> tuple[str, ...] | None:
    items = _restriction(c, path, fields, "dags")
    if items is None:
        return None
    patterns = []
    for index, item in enumerate(items):
        item_path = f"{key_path(path, 'dags')}[{index}]"
        pattern = c.string(item_path, item)
        if pattern == "":
            c.problem(item_path, 'is empty; write a DAG id or a pattern like "etl_*"')
        elif pattern is not None:
            patterns.append(pattern)
    return tuple(patterns)
