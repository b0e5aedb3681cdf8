"""How a deployment proves who the bot is to Airflow.

Three schemes, one interface: an Astro (or any platform) bearer token sent as is; basic auth
for Airflow 2; and for Airflow 3 a username/password exchanged at ``POST /auth/token`` for a
JWT, which is cached and renewed before it expires or when Airflow answers 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from typing import Protocol

import requests

from bot.airflow.errors import AirflowNotAllowed, AirflowUnavailable

# Renew a JWT this long before its stated expiry, so a call never leaves with a token that
# expires in flight.
JWT_RENEW_MARGIN_S = 30.0
# When a token states no expiry, assume this lifetime and let a 401 force renewal earlier.
JWT_DEFAULT_LIFETIME_S = 300.0


class Auth(Protocol):
    def apply(self, headers: dict[str, str]) -> None:
        """Add credentials to an outgoing request's headers."""

    def renew(self) -> bool:
        """Forget cached credentials after a 401; True if a retry may now succeed."""


class BearerAuth:
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def apply(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = self._header

    def renew(self) -> bool:
        return False  # a platform token cannot be renewed by the bot

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class BasicAuth:
    def __init__(self, username: str, password: str) -> None:
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self.username = username

    def apply(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = self._header

    def renew(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, ***)"


class JwtPasswordAuth:
    """Airflow 3's ``POST /auth/token`` exchange, with the token cached across threads."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        session: requests.Session,
        timeout: tuple[float, float],
        deployment: str = "",
    ) -> None:
        self._url = base_url.rstrip("/") + "/auth/token"
        self.username = username
        self._password = password
        self._session = session
        self._timeout = timeout
        self._deployment = deployment
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def apply(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {self._current_token()}"

    def renew(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token, lifetime = self._fetch()
                self._renew_at = time.monotonic() + max(0.0, lifetime - JWT_RENEW_MARGIN_S)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        try:
            resp = self._session.post(
                self._url,
                json={"username": self.username, "password": self._password},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise AirflowUnavailable(
                f"could not reach {self._url}: {type(exc).__name__}",
                deployment=self._deployment,
            ) from None
        if resp.status_code in (401, 403):
            raise AirflowNotAllowed(
                f"Airflow refused the username or password for {self.username!r}",
                status=resp.status_code,
                deployment=self._deployment,
            )
        if resp.status_code >= 300:
            raise AirflowUnavailable(
                f"getting a token failed with HTTP {resp.status_code}",
                status=resp.status_code,
                deployment=self._deployment,
            )
        try:
            token = str(resp.json()["access_token"])
        except (ValueError, KeyError, TypeError):
            raise AirflowUnavailable(
                "Airflow's /auth/token answer had no access_token", deployment=self._deployment
            ) from None
        return token, jwt_lifetime(token)

    def __repr__(self) -> str:
        return f"JwtPasswordAuth({self.username!r}, ***)"


def jwt_lifetime(token: str, *, now: float | None = None) -> float:
    """Seconds until the JWT's ``exp`` claim; the signature is Airflow's business, not ours."""
    try:
        payload_b64 = token.split(".")[1]
        payload_b64 += "=" * (-len(payload_b64) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload_b64))
        exp = float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return JWT_DEFAULT_LIFETIME_S
    return exp - (time.time() if now is None else now)
