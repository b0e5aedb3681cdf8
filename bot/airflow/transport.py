"""How the Airflow client reaches Airflow: one pooled ``requests.Session`` per deployment, the
API version (detected once, or forced), the credentials, bounded retries for reads, identical
reads in flight sent once (``bot.airflow.sharing``), at most ``max_in_flight`` calls at once
(``bot.airflow.budget``), and every failure as a typed ``AirflowError``.

Reads are retried a bounded number of times with backoff; writes never are, so a trigger is
never sent twice (a 401 that only renews a JWT is the exception: Airflow acted on nothing).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from bot.airflow import writes
from bot.airflow.auth import Auth, BasicAuth, BearerAuth, CachedToken, JwtPasswordAuth
from bot.airflow.budget import Budget, LocalBudget
from bot.airflow.errors import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from bot.airflow.parse import error_message, retry_after_seconds
from bot.airflow.sharing import SharedReads, read_key

log = logging.getLogger(__name__)

ApiVersion = Literal["v1", "v2"]
_A = TypeVar("_A", bound="Auth | None")


class Transport:
    def __init__(
        self,
        *,
        base_url: str = "",
        name: str = "",
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        auth: Auth | None = None,
        locate: Callable[[], str] | None = None,
        api_version: str = "auto",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        read_retries: int = 2,
        backoff: float = 0.25,
        max_retry_wait: float = 5.0,
        pool_size: int = 16,
        max_in_flight: int = 16,
        session: requests.Session | None = None,
        budget: Budget | None = None,
        reads: SharedReads | None = None,
    ) -> None:
        if api_version not in ("auto", "v1", "v2"):
            raise ValueError(f"api_version must be auto, v1 or v2, not {api_version!r}")
        if auth is None and token is None and (username is None or password is None):
            raise ValueError("give a token, or a username and a password, or an auth")
        if not base_url and locate is None:
            raise ValueError("give a base_url, or how to locate it")
        self.name = name
        # A managed platform's auth (OAuth2, Google, MWAA) comes built; MWAA also says where
        # Airflow is only once asked (``locate``), on the first call rather than at start-up.
        self._base_url = base_url.rstrip("/") or None
        self._locate = locate
        self._locate_lock = threading.Lock()
        self.timeout = (connect_timeout, read_timeout)
        self._read_retries = read_retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self.session = session or pooled_session(pool_size, base_url)
        self._token = token
        self._username = username
        self._password = password
        self._forced_version: ApiVersion | None = api_version if api_version != "auto" else None  # type: ignore[assignment]
        self._version: ApiVersion | None = self._forced_version
        self._version_lock = threading.Lock()
        # Airflow 3's api-server hangs for good when more calls are in flight than its database
        # pool holds (5 + 10 by default; apache/airflow#73422): however many commands arrive,
        # at most this many calls go to one deployment at once; the rest wait their turn.
        # (wait_run's streams are outside it, bounded by the follower's own few threads.)
        # One process's semaphore, or (budget) the dyno's, shared by gunicorn's processes.
        # Every request to the deployment goes within it: calls, version checks (``send``)
        # and the sign-ins an auth sends to the deployment itself (``_budgeted``).
        self._in_flight = budget or LocalBudget(max_in_flight)
        self._auth: Auth | None = self._budgeted(auth)
        self.reads = reads or SharedReads()

    # -- where, version and auth -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Airflow's base URL, before /api; located once, whoever asks first."""
        if self._base_url is None:
            with self._locate_lock:
                if self._base_url is None and self._locate is not None:
                    self._base_url = self._locate().rstrip("/")
        return self._base_url or ""

    @property
    def api_version(self) -> ApiVersion:
        """``v1`` or ``v2``; asks the server once (the version endpoints need no auth)."""
        if self._version is None:
            with self._version_lock:
                if self._version is None:
                    self._version = self._detect_version()
        return self._version

    def _detect_version(self) -> ApiVersion:
        # Airflow 3 has only /api/v2; Airflow 2 only /api/v1. Anything but a 404 (a 401 from
        # a platform that guards every path, say) means the prefix exists.
        for version in ("v2", "v1"):
            resp = self.send("GET", f"{self.base_url}/api/{version}/version", auth=None)
            if resp.status_code != 404:
                log.info("deployment %s speaks /api/%s", self.name, version)
                return version
        raise AirflowUnavailable(
            f"{self.base_url} answers neither /api/v2 nor /api/v1: "
            "is it the Airflow base URL (before /api)?",
            status=404,
            deployment=self.name,
        )

    def auth(self) -> Auth:
        if self._auth is None:
            if self._token is not None:
                self._auth = BearerAuth(self._token)
            elif self.api_version == "v1":
                self._auth = BasicAuth(self._username or "", self._password or "")
            else:
                self._auth = self._budgeted(
                    JwtPasswordAuth(
                        base_url=self.base_url,
                        username=self._username or "",
                        password=self._password or "",
                        session=self.session,
                        timeout=self.timeout,
                        deployment=self.name,
                    )
                )
        return self._auth

    def _budgeted(self, auth: _A) -> _A:
        """``auth``, its exchanges with the deployment counted in the deployment's budget."""
        if isinstance(auth, CachedToken):
            auth.budget = self._in_flight
        return auth

    # -- calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/api/{self.api_version}{path}"
        read = method == "GET" if retry is None else retry
        retries = self._read_retries if read else 0
        auth = self.auth()

        def answer() -> requests.Response:
            return self._answer(method, url, params, json, auth, retries)

        # Identical reads in flight are sent once (bot/airflow/sharing.py); each caller decodes
        # its own copy of the answer.
        if read:
            resp = self.reads.share(read_key(method, url, params, json, auth), answer)
        else:
            writes.before_write()  # may refuse: a write is not sent twice (bot/airflow/writes.py)
            resp = answer()
        return self._decoded(resp, method, path)

    def _answer(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        auth: Auth,
        retries: int,
    ) -> requests.Response:
        """Airflow's successful answer, after up to ``retries`` retries, or its error raised."""
        renewed = False
        attempt = 0
        while True:
            resp = self.send(
                method, url, auth=auth, params=params, json=json, may_retry=attempt < retries
            )
            if resp is _RETRY:
                attempt += 1
                continue
            if resp.status_code == 401 and not renewed and auth.renew():
                renewed = True  # the token expired: Airflow did nothing, so sending again is safe
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = self._retry_wait(resp, attempt)
                if attempt < retries and wait is not None:
                    time.sleep(wait)
                    attempt += 1
                    continue
            if resp.status_code >= 400:
                raise self.error(resp)
            return cast("requests.Response", resp)

    def _decoded(self, resp: requests.Response, method: str, path: str) -> dict[str, Any]:
        if not resp.content:
            return {}
        try:
            body = resp.json()
        except ValueError:
            raise AirflowUnavailable(
                f"Airflow answered {method} {path} with something that is not JSON",
                status=resp.status_code,
                deployment=self.name,
            ) from None
        return body if isinstance(body, dict) else {"items": body}

    def _retry_wait(self, resp: requests.Response, attempt: int) -> float | None:
        if resp.status_code == 429:
            wanted = retry_after_seconds(resp.headers.get("Retry-After"))
            if wanted is not None:
                return wanted if wanted <= self._max_retry_wait else None
        return float(self._backoff * 2.0**attempt)

    def send(
        self,
        method: str,
        url: str,
        *,
        auth: Auth | None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        may_retry: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if auth is not None:
            auth.apply(headers)
        started = time.monotonic()
        try:
            with self._in_flight:
                resp = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
        except requests.ConnectionError as exc:
            # Nothing reached Airflow's application: a retry of a read is harmless.
            if may_retry:
                log.warning("%s %s: %s, retrying", method, url, type(exc).__name__)
                time.sleep(self._backoff)
                return _RETRY
            raise AirflowUnavailable(
                f"could not reach Airflow at {self.base_url} ({_describe(exc)})",
                deployment=self.name,
            ) from None
        except requests.Timeout:
            raise AirflowUnavailable(
                f"Airflow at {self.base_url} did not answer within {self.timeout[1]:g} s",
                deployment=self.name,
            ) from None
        except requests.RequestException as exc:
            raise AirflowUnavailable(
                f"calling Airflow at {self.base_url} failed ({type(exc).__name__})",
                deployment=self.name,
            ) from None
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            url,
            resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        return resp

    def error(self, resp: requests.Response) -> AirflowError:
        status = resp.status_code
        message = error_message(resp)
        kind: type[AirflowError]
        if status == 404:
            kind = AirflowNotFound
        elif status == 409:
            kind = AirflowConflict
        elif status in (401, 403):
            kind = AirflowNotAllowed
        elif status == 429:
            return AirflowRateLimited(
                message,
                retry_after=retry_after_seconds(resp.headers.get("Retry-After")),
                deployment=self.name,
            )
        elif status >= 500:
            kind = AirflowUnavailable
        else:
            kind = AirflowBadRequest
        return kind(message, status=status, deployment=self.name)


class _Retry:
    """Marker returned by ``_send`` when a read should be sent again."""


_RETRY: Any = _Retry()


def pooled_session(pool_size: int, base_url: str) -> requests.Session:
    session = requests.Session()
    # Read the environment once, here, not on every call: with trust_env, requests looks in
    # ~/.netrc on each request and a matching entry replaces the Authorization header we set
    # (another credential than the deployment's), and re-reading it costs ~140 us a call.
    # The proxy and CA bundle settings it would have found are kept.
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(base_url)
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    # Our own retry loop decides what may be resent; urllib3's must not resend a POST.
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def seg(value: str) -> str:
    """One URL path segment: run ids hold ``+`` and ``:``, which must not change meaning."""
    return quote(value, safe="")


def _describe(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text or isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if "Name or service not known" in text or "getaddrinfo" in text:
        return "host name not found"
    return type(exc).__name__
