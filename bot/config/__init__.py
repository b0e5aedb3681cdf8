"""The YAML config: which Airflow deployments exist, and who may do what on them.

`parse_config` turns the file's text into a `Config` or raises one `ConfigError` listing every
problem by its path in the file, so a broken config stops the bot at start-up with everything
the operator needs to fix it, not just the first mistake. Secrets are never written in the file:
`token` and `password` must be `${VAR}` references, filled from the environment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

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
# `$$`, or `${` up to the next `}` (a missing `}` is reported, not left as text).
_REFERENCE = re.compile(r"\$(?:\$|\{(?P<body>[^}]*)(?P<close>\}?))")
_REFERENCE_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
# A secret must be exactly one reference with no default: a default would be a secret in the file.
_SECRET_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_USE_ENV_HINT = "put the secret in the environment and write ${VAR} here"
_SHOW_LIMIT = 60


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
    checker = _Checker(env)
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
                    f"duplicate key {_show(key)} (first on line {first_line})",
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


# --- checking -----------------------------------------------------------------------------


def _show(value: object) -> str:
    """A user's value for a message: quoted, shortened, never a whole nested structure."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a very large number"  # and repr() of a huge int may refuse outright
    if not isinstance(value, str | int | float):
        return _kind(value)
    shown = repr(value)
    return shown if len(shown) <= _SHOW_LIMIT else shown[: _SHOW_LIMIT - 4] + "...'"


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str) or len(word) > _SHOW_LIMIT:
        return ""  # difflib is quadratic, and a long word is no typo
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _key(path: str, key: object) -> str:
    """The path of a mapping entry: `deployments.prod`."""
    part = key if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else _show(key)
    return f"{path}.{part}" if path else str(part)


class _Checker:
    """Collects problems while reading the parsed YAML, and fills in `${VAR}` as it goes."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.secrets: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def redacted_problems(self) -> list[str]:
        # Belt and braces: a secret's value may also have been put in, say, a url by mistake.
        problems = self.problems
        for secret in sorted(self.secrets, key=len, reverse=True):
            problems = [problem.replace(secret, "***") for problem in problems]
        return problems

    def mapping(self, path: str, value: object, expected: str) -> dict[Any, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, f"must be {expected}, got {_kind(value)}")
        return None

    def sequence(self, path: str, value: object, example: str) -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.problem(path, f"must be a list, like {example}, got {_kind(value)}")
        return None

    def known_keys(
        self,
        path: str,
        mapping: Mapping[Any, Any],
        allowed: Iterable[str],
        *,
        extensions: bool = False,
    ) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            # Like docker compose, `x-...` keys may hold YAML anchors to reuse (`<<: *defaults`).
            if extensions and isinstance(key, str) and key.startswith("x-"):
                continue
            if key not in allowed:
                where = f"{path}: unknown" if path else "unknown"
                self.problems.append(
                    f"{where} key {_show(key)}{_did_you_mean(key, allowed)}; "
                    f"expected one of {', '.join(allowed)}"
                )

    def string(self, path: str, value: object) -> str | None:
        """A text value with `${VAR}` filled in, or None (and a problem) if it cannot be."""
        if not isinstance(value, str):
            self.problem(path, f"must be text, got {_kind(value)}")
            return None
        return self.substitute(path, value)

    def substitute(self, path: str, raw: str) -> str | None:
        ok = True

        def replace(match: re.Match[str]) -> str:
            nonlocal ok
            if match.group(0) == "$$":
                return "$"
            body = match.group("body")
            if not match.group("close"):
                ok = False
                self.problem(path, "'${' without a closing '}'; write $$ for a literal $")
                return ""
            reference = _REFERENCE_BODY.fullmatch(body)
            if reference is None:
                ok = False
                self.problem(
                    path,
                    f"{_show('${' + body + '}')} is not a variable reference; write ${{NAME}} "
                    "or ${NAME:-default}, or $$ for a literal $",
                )
                return ""
            name, default = reference.group("name"), reference.group("default")
            value = self.env.get(name)
            if default is not None and not value:
                return default
            if value is None:
                ok = False
                self.problem(path, f"environment variable {name} is not set")
                return ""
            return value

        result = _REFERENCE.sub(replace, raw)
        return result if ok else None

    def secret(self, path: str, raw: object) -> str | None:
        """A token or password: only ever `${VAR}`, so the file can be shared and committed."""
        match = _SECRET_REFERENCE.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            self.problem(path, _USE_ENV_HINT)
            return None
        name = match.group("name")
        value = self.env.get(name)
        if value is None:
            self.problem(path, f"environment variable {name} is not set")
            return None
        if not value:
            self.problem(path, f"environment variable {name} is empty")
            return None
        self.secrets.add(value)
        return value


# --- sections -----------------------------------------------------------------------------


def _config(c: _Checker, data: object) -> Config:
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


def _deployments(c: _Checker, raw: object) -> dict[str, Deployment]:
    example = "deployments: {prod: {url: https://..., token: ${ASTRO_PROD_TOKEN}}}"
    if raw is None or raw == {}:
        c.problem("deployments", f"at least one deployment is required, like {example}")
        return {}
    entries = c.mapping("deployments", raw, f"a mapping of names to deployments, like {example}")
    deployments: dict[str, Deployment] = {}
    for name, body in (entries or {}).items():
        path = _key("deployments", name)
        if _deployment_name_ok(c, path, name):
            deployment = _deployment(c, path, name, body)
            if deployment is not None:
                deployments[name] = deployment
    return deployments


def _deployment_name_ok(c: _Checker, path: str, name: object) -> bool:
    if not isinstance(name, str):
        c.problem(path, f"a deployment name must be text, got {_kind(name)}; quote it")
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


def _deployment(c: _Checker, path: str, name: str, body: object) -> Deployment | None:
    fields = c.mapping(path, body, "a mapping with url and token (or username and password)")
    if fields is None:
        return None
    c.known_keys(path, fields, _DEPLOYMENT_KEYS)
    before = len(c.problems)
    url = _url(c, _key(path, "url"), fields.get("url"))
    token, username, password = _auth(c, path, fields)
    api_version = _api_version(c, _key(path, "api_version"), fields.get("api_version", "auto"))
    confirm = fields.get("confirm", False)
    if not isinstance(confirm, bool):
        c.problem(_key(path, "confirm"), f"must be true or false, got {_show(confirm)}")
    timeout = _timeout(c, _key(path, "timeout"), fields.get("timeout", 10.0))
    confirm_timeout = _confirm_timeout(c, _key(path, "confirm_timeout"), fields)
    approvers, approver_groups = _approvers(c, _key(path, "approvers"), fields.get("approvers"))
    in_flight = fields.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or not 1 <= in_flight <= 256:
        c.problem(
            _key(path, "max_in_flight"),
            f"must be a whole number of calls from 1 to 256, got {_show(in_flight)}",
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


def _confirm_timeout(c: _Checker, path: str, fields: Mapping[Any, Any]) -> float | None:
    raw = fields.get("confirm_timeout", DEFAULT_CONFIRM_TIMEOUT)
    if (
        isinstance(raw, int | float)
        and not isinstance(raw, bool)
        and 0 < raw <= MAX_CONFIRM_TIMEOUT
    ):
        return float(raw)
    c.problem(path, f"must be a number of seconds above 0 and at most 604800, got {_show(raw)}")
    return None


def _approvers(c: _Checker, path: str, raw: object) -> tuple[frozenset[str], frozenset[str]]:
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


def _url(c: _Checker, path: str, raw: object) -> str | None:
    if raw is None:
        c.problem(path, "required: the Airflow base URL, like https://airflow.example.com")
        return None
    text = c.string(path, raw)
    if text is None:
        return None
    url = text.strip()
    # Never echo a URL that may carry a password or a token in it.
    shown = "" if "@" in url or "?" in url else f", got {_show(url)}"
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
    c: _Checker, path: str, fields: Mapping[Any, Any]
) -> tuple[str | None, str | None, str | None]:
    has_token, has_username = "token" in fields, "username" in fields
    has_password = "password" in fields
    token = c.secret(_key(path, "token"), fields["token"]) if has_token else None
    password = c.secret(_key(path, "password"), fields["password"]) if has_password else None
    username = None
    if has_username:
        username = c.string(_key(path, "username"), fields["username"])
        if username == "":
            c.problem(_key(path, "username"), "is empty")
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


def _api_version(c: _Checker, path: str, raw: object) -> str | None:
    choices = ", ".join(API_VERSIONS)
    if isinstance(raw, int) and not isinstance(raw, bool) and f"v{raw}" in API_VERSIONS:
        c.problem(path, f"must be one of {choices}: write v{raw}")
        return None
    value = c.string(path, raw) if isinstance(raw, str) else None
    if value in API_VERSIONS:
        return value
    if value is not None or not isinstance(raw, str):
        c.problem(path, f"must be one of {choices}, got {_show(raw if value is None else value)}")
    return None


def _timeout(c: _Checker, path: str, raw: object) -> float | None:
    # Compare before converting: float() of a huge YAML integer would overflow.
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 < raw <= MAX_TIMEOUT:
        return float(raw)
    c.problem(path, f"must be a number of seconds above 0 and at most 300, got {_show(raw)}")
    return None


def _channels(c: _Checker, raw: object, deployment_names: set[str]) -> dict[str, str]:
    if raw is None:
        return {}
    entries = c.mapping(
        "channels", raw, "a mapping of channel IDs to deployments, like C0123ABCD: prod"
    )
    channels: dict[str, str] = {}
    for channel, target in (entries or {}).items():
        path = _key("channels", channel)
        if not isinstance(channel, str):
            c.problem(path, f"must be a Slack channel ID like C0123ABCD, got {_kind(channel)}")
            continue
        channel_ok = _slack_id(c, path, channel, _CHANNEL, substitute=False) is not None
        name = _deployment_ref(c, path, target, deployment_names)
        if channel_ok and name is not None:
            channels[channel] = name
    return channels


def _deployment_ref(c: _Checker, path: str, raw: object, names: set[str]) -> str | None:
    name = c.string(path, raw)
    if name is None or name in names:
        return name
    known = ", ".join(sorted(names)) or "none"
    c.problem(
        path,
        f"unknown deployment {_show(name)}{_did_you_mean(name, names)}; configured: {known}",
    )
    return None


def _roles(c: _Checker, raw: object) -> tuple[dict[str, frozenset[str]], set[str]]:
    roles = dict(BUILTIN_ROLES)
    if raw is None:
        return roles, set(roles)
    entries = c.mapping("roles", raw, "a mapping of role names to verbs, like ops: [list, trigger]")
    names = set(roles) | {name for name in entries or {} if isinstance(name, str)}
    for name, verbs in (entries or {}).items():
        path = _key("roles", name)
        if not isinstance(name, str) or not name.strip():
            c.problem(path, f"a role name must be non-empty text, got {_show(name)}")
            continue
        granted = _verbs(c, path, verbs)
        if granted is not None:
            roles[name] = granted
    return roles, names


def _verbs(c: _Checker, path: str, raw: object) -> frozenset[str] | None:
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
            hint = _did_you_mean(verb, KNOWN_VERBS) or f" (verbs: {', '.join(sorted(KNOWN_VERBS))})"
            c.problem(item_path, f"unknown verb {_show(verb)}{hint}")
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
    c: _Checker, path: str, raw: object, kind: _IdKind, *, substitute: bool = True
) -> str | None:
    value = c.string(path, raw) if substitute else raw
    if not isinstance(value, str):
        return None
    if kind.pattern.fullmatch(value):
        return value
    if _looks_like_lower_case_id(value.strip(), kind):
        c.problem(path, f"Slack IDs are upper case with no spaces: write {value.strip().upper()}")
    else:
        c.problem(path, f"{_show(value)} is not {kind.what}; {kind.instead}")
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
    c: _Checker, raw: object, role_names: set[str], deployment_names: set[str]
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
    c: _Checker, path: str, raw: object, role_names: set[str], deployment_names: set[str]
) -> Grant | None:
    fields = c.mapping(path, raw, "a mapping with role and users or usergroups")
    if fields is None:
        return None
    c.known_keys(path, fields, _GRANT_KEYS)
    role = _role_ref(c, _key(path, "role"), fields.get("role"), role_names)
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


def _role_ref(c: _Checker, path: str, raw: object, role_names: set[str]) -> str | None:
    known = ", ".join(sorted(role_names))
    if raw is None:
        c.problem(path, f"required: one of {known}")
        return None
    role = c.string(path, raw)
    if role is None or role in role_names:
        return role
    c.problem(path, f"unknown role {_show(role)}{_did_you_mean(role, role_names)}; roles: {known}")
    return None


def _restriction(c: _Checker, path: str, fields: Mapping[Any, Any], key: str) -> list[Any] | None:
    """An optional list; absent means "no restriction", but an empty one is surely a mistake."""
    if key not in fields:
        return None
    item_path = _key(path, key)
    items = c.sequence(item_path, fields[key], _GRANT_LIST_EXAMPLES[key])
    if items is not None and not items and key not in ("users", "usergroups"):
        c.problem(item_path, f"is empty, which allows nothing; remove {key} to allow any")
    return items


def _ids(
    c: _Checker, path: str, fields: Mapping[Any, Any], key: str, kind: _IdKind
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    ids = (_slack_id(c, f"{_key(path, key)}[{i}]", item, kind) for i, item in enumerate(items))
    return frozenset(value for value in ids if value is not None)


def _names(
    c: _Checker, path: str, fields: Mapping[Any, Any], key: str, names: set[str]
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    refs = (
        _deployment_ref(c, f"{_key(path, key)}[{i}]", item, names) for i, item in enumerate(items)
    )
    return frozenset(name for name in refs if name is not None)


def _dags(c: _Checker, path: str, fields: Mapping[Any, Any]) -> tuple[str, ...] | None:
    items = _restriction(c, path, fields, "dags")
    if items is None:
        return None
    patterns = []
    for index, item in enumerate(items):
        item_path = f"{_key(path, 'dags')}[{index}]"
        pattern = c.string(item_path, item)
        if pattern == "":
            c.problem(item_path, 'is empty; write a DAG id or a pattern like "etl_*"')
        elif pattern is not None:
            patterns.append(pattern)
    return tuple(patterns)
