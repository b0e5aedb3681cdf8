"""How a deployment signs in: the keys of each way, checked together so that exactly one is used.

A platform token (``token``), a username and password, OAuth2 client credentials (an Astro
Deployment API key: ``client_id``, ``client_secret``, ``token_url``, ``audience``, ``scope``),
Google's Application Default Credentials (``auth: google``) or Amazon MWAA (``auth: mwaa`` with
``environment``, ``region``, ``mwaa_mode``). A way that needs an optional extra that is not
installed is a problem here, so the bot refuses to start rather than fail at the first command.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from bot.config.checker import Checker, did_you_mean, key_path, show
from bot.config.extras import install_hint, missing_extra
from bot.config.model import (
    ASTRO_AUDIENCE,
    ASTRO_TOKEN_URL,
    MWAA_MODES,
    ClientCredentials,
    MwaaEnvironment,
)

__all__ = ["CREDENTIAL_KEYS", "Credentials", "check_credentials"]

AUTH_CHOICES = ("google", "mwaa")
_OAUTH_KEYS = ("client_id", "client_secret", "token_url", "audience", "scope")
_MWAA_KEYS = ("environment", "region", "mwaa_mode")
CREDENTIAL_KEYS = ("token", "username", "password", "auth", *_OAUTH_KEYS, *_MWAA_KEYS)
# MWAA's own rules for an environment's name, and the shape of every AWS region's name.
_MWAA_NAME = re.compile(r"[A-Za-z][0-9A-Za-z_-]{0,79}")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_WAYS = (
    "token: ${VAR} (an Astro API token), username and password: ${VAR}, client_id and "
    "client_secret: ${VAR} (an Astro Deployment API key), auth: google (Cloud Composer) or "
    "auth: mwaa (Amazon MWAA)"
)


class Credentials(NamedTuple):
    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_credentials: ClientCredentials | None = None
    google: bool = False
    mwaa: MwaaEnvironment | None = None


def check_credentials(c: Checker, path: str, fields: Mapping[Any, Any]) -> Credentials:
    """The deployment's one way to sign in; every problem with it recorded in `c`."""
    # Every secret is read first, whatever else is wrong, so that no problem can show one.
    secrets = {
        key: c.secret(key_path(path, key), fields[key])
        for key in ("token", "password", "client_secret")
        if key in fields
    }
    auth = _auth_choice(c, key_path(path, "auth"), fields)
    ways = [
        name
        for name, used in (
            ("token", "token" in fields),
            ("username/password", "username" in fields or "password" in fields),
            ("client_id/client_secret", any(k in fields for k in _OAUTH_KEYS)),
            (f"auth: {auth}", auth is not None),
        )
        if used
    ]
    if len(ways) > 1:
        listed = ", ".join(ways[:-1]) + f" or {ways[-1]}"
        c.problem(path, f"use one way to sign in: {listed}, not {_both(len(ways))}")
        return Credentials()
    if auth != "mwaa":
        for key in _MWAA_KEYS:
            if key in fields:
                c.problem(key_path(path, key), "is for Amazon MWAA only: add auth: mwaa")
    if not ways:
        if "auth" not in fields:  # (a wrong auth has had its problem said)
            c.problem(path, f"needs credentials: {_WAYS}")
        return Credentials()
    if auth == "google":
        return Credentials(google=True)
    if auth == "mwaa":
        return Credentials(mwaa=_mwaa(c, path, fields))
    if "token" in fields:
        return Credentials(token=secrets["token"])
    if ways == ["client_id/client_secret"]:
        client = _client_credentials(c, path, fields, secrets.get("client_secret"))
        return Credentials(client_credentials=client)
    return _username_password(c, path, fields, secrets.get("password"))


def _both(count: int) -> str:
    return "both" if count == 2 else "several"


def _auth_choice(c: Checker, path: str, fields: Mapping[Any, Any]) -> str | None:
    if "auth" not in fields:
        return None
    raw = fields["auth"]
    value = c.string(path, raw)
    if value is None:
        return None
    if value not in AUTH_CHOICES:
        c.problem(
            path,
            f"must be google or mwaa, got {show(value)}{did_you_mean(value, AUTH_CHOICES)}; "
            "a token, a username and password, or a client_id and client_secret need no auth key",
        )
        return None
    missing = missing_extra(value)
    if missing is not None:
        c.problem(path, f"auth: {value} needs {install_hint(missing)}")
    return value


def _username_password(
    c: Checker, path: str, fields: Mapping[Any, Any], password: str | None
) -> Credentials:
    has_username, has_password = "username" in fields, "password" in fields
    username = None
    if has_username:
        username = c.string(key_path(path, "username"), fields["username"])
        if username == "":
            c.problem(key_path(path, "username"), "is empty")
    if not has_password:
        c.problem(path, "username needs a password: ${VAR} too")
    elif not has_username:
        c.problem(path, "password needs a username too")
    return Credentials(username=username, password=password)


def _client_credentials(
    c: Checker, path: str, fields: Mapping[Any, Any], secret: str | None
) -> ClientCredentials | None:
    before = len(c.problems)
    client_id = _text(c, key_path(path, "client_id"), fields.get("client_id"), "the client's ID")
    if "client_secret" not in fields:
        c.problem(path, "client_id needs a client_secret: ${VAR} too")
    token_url = ASTRO_TOKEN_URL
    if "token_url" in fields:
        token_url = _token_url(c, key_path(path, "token_url"), fields["token_url"]) or ""
    # Astronomer's audience goes with Astronomer's token URL; another server names its own.
    audience: str | None = ASTRO_AUDIENCE if token_url == ASTRO_TOKEN_URL else None
    if "audience" in fields:
        audience = _text(c, key_path(path, "audience"), fields["audience"], "the API's audience")
    scope = _scope(c, key_path(path, "scope"), fields["scope"]) if "scope" in fields else None
    if len(c.problems) > before or client_id is None or secret is None:
        return None
    return ClientCredentials(
        client_id=client_id,
        client_secret=secret,
        token_url=token_url,
        audience=audience,
        scope=scope,
    )


def _text(c: Checker, path: str, raw: object, what: str) -> str | None:
    if raw is None:
        c.problem(path, f"required: {what}, like ${{VAR}} or plain text")
        return None
    value = c.string(path, raw)
    if value is not None and not value.strip():
        c.problem(path, "is empty")
        return None
    return value.strip() if value is not None else None


def _token_url(c: Checker, path: str, raw: object) -> str | None:
    text = c.string(path, raw)
    if text is None:
        return None
    url = text.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        valid = bool(host) and (parts.port is None or parts.port > 0)
    except ValueError:
        valid, host, parts = False, "", urlsplit("")
    if not valid or parts.scheme not in ("http", "https") or "@" in parts.netloc:
        c.problem(path, "must be the token endpoint's URL, like https://auth.example.com/token")
        return None
    if parts.scheme == "http" and not _loopback(host):
        # The client secret travels in the request: never in the clear over a network.
        c.problem(path, "must start with https://: the client secret is sent to it")
        return None
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scope(c: Checker, path: str, raw: object) -> str | None:
    """OAuth2 scopes, written as one space-separated text or as a list."""
    if isinstance(raw, list):
        items = [c.string(f"{path}[{i}]", item) for i, item in enumerate(raw)]
        if any(item is None or not item.strip() or " " in item.strip() for item in items):
            c.problem(path, "must be a list of scope names without spaces, like [read, write]")
            return None
        return " ".join(item.strip() for item in items if item) or None
    value = c.string(path, raw)
    if value is not None and not value.strip():
        c.problem(path, "is empty: leave scope out to ask for the client's default scopes")
        return None
    return " ".join(value.split()) if value is not None else None


def _mwaa(c: Checker, path: str, fields: Mapping[Any, Any]) -> MwaaEnvironment | None:
    before = len(c.problems)
    name = _text(c, key_path(path, "environment"), fields.get("environment"), "the MWAA name")
    if name is not None and not _MWAA_NAME.fullmatch(name):
        c.problem(
            key_path(path, "environment"),
            f"is not an MWAA environment name, got {show(name)}: a letter, then up to 79 "
            "letters, digits, '-' or '_' (the name, not the ARN or the web server's address)",
        )
    region = _text(c, key_path(path, "region"), fields.get("region"), "the AWS region")
    if region is not None and not _AWS_REGION.fullmatch(region):
        c.problem(
            key_path(path, "region"), f"is not an AWS region, got {show(region)}: like eu-west-1"
        )
    mode = fields.get("mwaa_mode", "login")
    if mode not in MWAA_MODES:
        c.problem(
            key_path(path, "mwaa_mode"),
            f"must be login (a web login token, the whole REST API) or invoke "
            f"(InvokeRestApi: 10 s and 6 MB an answer), got {show(mode)}",
        )
    if len(c.problems) > before or name is None or region is None:
        return None
    return MwaaEnvironment(environment=name, region=region, mode=str(mode))
