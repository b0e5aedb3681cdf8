"""The `deployments:` section: each Airflow deployment's name, URL, credentials and limits.

Also `deployment_ref`, a reference to a configured deployment by name from another section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.config.checker import Checker, did_you_mean, key_path, kind_of, show
from bot.config.credentials import CREDENTIAL_KEYS, check_credentials
from bot.config.model import (
    API_VERSIONS,
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT,
    Deployment,
)
from bot.config.slack_ids import USER, USERGROUP, slack_id

__all__ = ["MAX_CONFIRM_TIMEOUT", "MAX_TIMEOUT", "check_deployments", "deployment_ref"]

MAX_TIMEOUT = 300.0
MAX_CONFIRM_TIMEOUT = 7 * 24 * 3600.0
_DEPLOYMENT_KEYS = (
    "url",
    *CREDENTIAL_KEYS,
    "api_version",
    "confirm",
    "confirm_timeout",
    "approvers",
    "timeout",
    "max_in_flight",
)
_DEPLOYMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def check_deployments(
    c: Checker, raw: object, command_words: frozenset[str]
) -> dict[str, Deployment]:
    """The deployments by name, less those with problems (recorded in `c`); none may be
    named like one of ``command_words``."""
    example = "deployments: {prod: {url: https://..., token: ${ASTRO_PROD_TOKEN}}}"
    if raw is None or raw == {}:
        c.problem("deployments", f"at least one deployment is required, like {example}")
        return {}
    entries = c.mapping("deployments", raw, f"a mapping of names to deployments, like {example}")
    deployments: dict[str, Deployment] = {}
    for name, body in (entries or {}).items():
        path = key_path("deployments", name)
        if _deployment_name_ok(c, path, name, command_words):
            deployment = _deployment(c, path, name, body)
            if deployment is not None:
                deployments[name] = deployment
    return deployments


def _deployment_name_ok(c: Checker, path: str, name: object, command_words: frozenset[str]) -> bool:
    if not isinstance(name, str):
        c.problem(path, f"a deployment name must be text, got {kind_of(name)}; quote it")
        return False
    if name in command_words:
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
    url: str | None = ""  # MWAA's web server is whatever AWS says it is
    if fields.get("auth") != "mwaa":
        url = _url(c, key_path(path, "url"), fields.get("url"))
    elif "url" in fields:
        c.problem(
            key_path(path, "url"),
            "is not used with auth: mwaa: the bot asks AWS for the environment's web server; "
            "remove it",
        )
    credentials = check_credentials(c, path, fields)
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
        token=credentials.token,
        username=credentials.username,
        password=credentials.password,
        client_credentials=credentials.client_credentials,
        google=credentials.google,
        mwaa=credentials.mwaa,
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
            group = slack_id(c, item_path, item, USERGROUP)
            if group:
                groups.add(group)
        else:
            user = slack_id(c, item_path, item, USER)
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


def deployment_ref(c: Checker, path: str, raw: object, names: set[str]) -> str | None:
    """The name of a configured deployment at `path`, else None (and a problem)."""
    name = c.string(path, raw)
    if name is None or name in names:
        return name
    known = ", ".join(sorted(names)) or "none"
    c.problem(
        path,
        f"unknown deployment {show(name)}{did_you_mean(name, names)}; configured: {known}",
    )
    return None
