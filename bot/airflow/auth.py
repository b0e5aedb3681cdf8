"""How a deployment proves who the bot is to Airflow.

One interface for every scheme: an Astro (or any platform) bearer token sent as is; basic auth
for Airflow 2; and tokens the bot obtains by an exchange (``CachedToken``): for Airflow 3 a
username/password exchanged at ``POST /auth/token`` for a JWT, cached and renewed before it
expires or when Airflow answers 401. The managed platforms' schemes build on the same base:
``oauth2`` (client credentials), ``google_adc`` (Cloud Composer) and ``mwaa``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Protocol

import requests

from bot.airflow.budget import Budget
from bot.airflow.errors import AirflowError, AirflowNotAllowed, AirflowUnavailable

# Renew a token this long before its stated expiry (or half way through a shorter life), so a
# call never leaves with a token that expires in flight.
JWT_RENEW_MARGIN_S = 30.0
# When a token states no expiry, assume this lifetime and let a 401 force renewal earlier.
JWT_DEFAULT_LIFETIME_S = 300.0
# After a failed exchange, the calls that queued for it get the same answer for this long,
# rather than each trying again against an endpoint that just failed.
FAILURE_HOLD_S = 2.0


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


class CachedToken(ABC):
    """A credential the bot obtains by an exchange, cached across threads.

    Renewed before it expires, or after Airflow answered 401 to it. One exchange however many
    calls wait for it: they queue on the lock, and a burst of 401s to the same token renews it
    once (each thread remembers the token it sent). A failed exchange is answered to the calls
    that were waiting for it, without another exchange, for ``FAILURE_HOLD_S``.
    Subclasses say how to exchange (``_fetch``) and how the token travels (``_put``).

    An exchange sent to the deployment's own server (Airflow 3's ``/auth/token``, MWAA's login)
    is one of its calls in flight: it goes ``with self.budget``, the deployment's budget, which
    the transport gives it. One sent elsewhere (an OAuth2 server, Google's) does not.
    """

    def __init__(self) -> None:
        # Unbounded until the transport gives the deployment's (bot.airflow.budget).
        self.budget: Budget = contextlib.nullcontext()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._failure: tuple[AirflowError, float] | None = None
        self._sent = threading.local()  # the token this thread last sent

    def apply(self, headers: dict[str, str]) -> None:
        token = self._current_token()
        self._sent.token = token
        self._put(headers, token)

    def renew(self) -> bool:
        with self._lock:
            if self._token is not None and self._token == getattr(self._sent, "token", None):
                self._token = None
        return True

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                if (
                    self._failure is not None
                    and time.monotonic() - self._failure[1] < FAILURE_HOLD_S
                ):
                    raise _again(self._failure[0])
                try:
                    token, lifetime = self._fetch()
                except AirflowError as exc:
                    self._failure = (exc, time.monotonic())
                    raise
                self._failure = None
                self._token = token
                margin = min(JWT_RENEW_MARGIN_S, max(0.0, lifetime) / 2)
                self._renew_at = time.monotonic() + max(0.0, lifetime - margin)
            return self._token

    @abstractmethod
    def _fetch(self) -> tuple[str, float]:
        """A new token, and how many seconds it lives."""

    def _put(self, headers: dict[str, str], token: str) -> None:
        headers["Authorization"] = f"Bearer {token}"


def _again(exc: AirflowError) -> AirflowError:
    """The same failure for another caller, with a fresh traceback."""
    again = type(exc).__new__(type(exc))
    again.__dict__.update(exc.__dict__)
    again.args = exc.args
    return again


class JwtPasswordAuth(CachedToken):
    """Airflow 3's ``POST /auth/token`` exchange of a username and password for a JWT."""

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
        super().__init__()
        self._url = base_url.rstrip("/") + "/auth/token"
        self.username = username
        self._password = password
        self._session = session
        self._timeout = timeout
        self._deployment = deployment

    def _fetch(self) -> tuple[str, float]:
        # Airflow's api-server answers it: another process's calls may hold the whole budget
        # (a second gunicorn worker signing in put 17 calls at once on a budget of 16).
        with self.budget:
            body = exchange(
                self._session,
                self._url,
                json={"username": self.username, "password": self._password},
                timeout=self._timeout,
                deployment=self._deployment,
                refused=f"Airflow refused the username or password for {self.username!r}",
                failed="getting a token",
                secret=self._password,
            )
        token = str(body["access_token"])
        return token, jwt_lifetime(token)

    def __repr__(self) -> str:
        return f"JwtPasswordAuth({self.username!r}, ***)"


def exchange(
    session: requests.Session,
    url: str,
    *,
    deployment: str,
    refused: str,
    failed: str,
    secret: str,
    refusals: tuple[int, ...] = (401, 403),
    refused_as: type[AirflowNotAllowed] = AirflowNotAllowed,
    **request: Any,
) -> dict[str, Any]:
    """POST to a token endpoint; its JSON answer, holding an ``access_token``.

    Refused credentials are ``refused_as`` (``refused``, with the endpoint's OAuth2 ``error`` and
    description when it gives them), anything else that fails is
    ``AirflowUnavailable``. No message ever holds ``secret``, whatever the endpoint echoes.
    """
    try:
        # A redirect is reported, not followed: it would carry the credentials elsewhere.
        resp = session.post(url, allow_redirects=False, **request)
    except requests.RequestException as exc:
        raise AirflowUnavailable(
            f"could not reach {url}: {type(exc).__name__}", deployment=deployment
        ) from None
    if resp.status_code in refusals:
        said = _oauth_error(resp)
        raise refused_as(
            _masked(f"{refused}{f' ({said})' if said else ''}", secret),
            status=resp.status_code,
            deployment=deployment,
        )
    if resp.status_code >= 300:
        raise AirflowUnavailable(
            f"{failed} failed with HTTP {resp.status_code}",
            status=resp.status_code,
            deployment=deployment,
        )
    try:
        body = resp.json()
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ValueError("no access_token")
    except ValueError:
        raise AirflowUnavailable(
            f"the token endpoint {url}: its answer had no access_token", deployment=deployment
        ) from None
    return body


def _oauth_error(resp: requests.Response) -> str:
    """An OAuth2 error answer's ``error: error_description`` (RFC 6749, 5.2), shortened."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("error", "error_description") if isinstance(body.get(k), str)]
    return ": ".join(parts)[:200]


def _masked(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


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
