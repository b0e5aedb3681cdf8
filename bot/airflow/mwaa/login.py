"""MWAA's web login: a web login token from AWS, exchanged at the web server for Airflow's own.

``CreateWebLoginToken`` answers the web server's host name and a token valid 60 seconds. The
web server's login endpoint takes it (form field ``token``) and sets the cookie Airflow expects:
on Airflow 3 (``/pluginsv2/aws_mwaa/login``) ``_token``, a JWT, sent as ``Authorization:
Bearer`` to ``/api/v2``; on Airflow 2 (``/aws_mwaa/login``) ``session``, sent as a cookie to
``/api/v1``. Renewed as ``CachedToken`` says: before the JWT expires, hourly for a session, and
after a 401.
"""

from __future__ import annotations

import threading
import time

import requests

from bot.airflow.auth import CachedToken, jwt_lifetime
from bot.airflow.errors import AirflowSignInFailed, AirflowUnavailable
from bot.airflow.mwaa.aws import MwaaApi, WebLogin
from bot.airflow.transport import pooled_session

# A web login token lives 60 s: one kept from locating the web server is used within this.
WEB_TOKEN_USE_S = 45.0
# An Airflow 2 session cookie states no lifetime: log in again this often, and on a 401.
SESSION_LIFETIME_S = 3600.0
# (path, cookie) of the login endpoint, Airflow 3's first.
LOGINS = {
    "v2": ("/pluginsv2/aws_mwaa/login", "_token"),
    "v1": ("/aws_mwaa/login", "session"),
}


class MwaaLoginAuth(CachedToken):
    def __init__(
        self,
        api: MwaaApi,
        *,
        api_version: str = "auto",
        timeout: tuple[float, float] = (3.05, 10.0),
    ) -> None:
        super().__init__()
        self._api = api
        # With api_version forced to v1, try Airflow 2's login first; else Airflow 3's.
        self._order = ("v1", "v2") if api_version == "v1" else ("v2", "v1")
        self._timeout = timeout
        self._fresh: tuple[WebLogin, float] | None = None
        self._fresh_lock = threading.Lock()
        self._session: requests.Session | None = None
        self._cookie = "_token"

    def locate(self) -> str:
        """``https://<web server>`` as CreateWebLoginToken says; its token is kept to log in."""
        login = self._api.web_login()
        with self._fresh_lock:
            self._fresh = (login, time.monotonic())
        return f"https://{login.hostname}"

    def _web_login(self) -> WebLogin:
        with self._fresh_lock:
            fresh, self._fresh = self._fresh, None
        if fresh is not None and time.monotonic() - fresh[1] < WEB_TOKEN_USE_S:
            return fresh[0]
        return self._api.web_login()

    def _fetch(self) -> tuple[str, float]:
        login = self._web_login()
        base = f"https://{login.hostname}"
        if self._session is None:
            self._session = pooled_session(2, base)
        for version in self._order:
            path, cookie = LOGINS[version]
            resp = self._post(base + path, login.token)
            if resp.status_code == 404:
                continue  # not this Airflow's login: the other one
            value = resp.cookies.get(cookie)
            if resp.status_code >= 400 or not value:
                raise AirflowSignInFailed(
                    f"MWAA's login endpoint {base}{path} refused the web login token "
                    f"(HTTP {resp.status_code}{'' if value else f', no {cookie} cookie'})",
                    status=resp.status_code,
                    deployment=self._api.deployment,
                )
            self._cookie = cookie
            lifetime = jwt_lifetime(value) if cookie == "_token" else SESSION_LIFETIME_S
            return value, lifetime
        raise AirflowUnavailable(
            f"{base} has no MWAA login endpoint ({LOGINS['v2'][0]} nor {LOGINS['v1'][0]})",
            status=404,
            deployment=self._api.deployment,
        )

    def _post(self, url: str, token: str) -> requests.Response:
        assert self._session is not None
        try:
            # The deployment's own web server answers it: one of its calls in flight.
            with self.budget:
                # Not following the redirect to the UI's home page: the cookie is all we want.
                return self._session.post(
                    url, data={"token": token}, allow_redirects=False, timeout=self._timeout
                )
        except requests.RequestException as exc:
            raise AirflowUnavailable(
                f"could not reach MWAA's login endpoint {url} ({type(exc).__name__})",
                deployment=self._api.deployment,
            ) from None

    def _put(self, headers: dict[str, str], token: str) -> None:
        if self._cookie == "session":
            headers["Cookie"] = f"session={token}"
        else:
            headers["Authorization"] = f"Bearer {token}"

    def describe(self) -> str:
        return f"a web login to MWAA environment {self._api.environment} in {self._api.region}"

    def __repr__(self) -> str:
        return f"MwaaLoginAuth({self._api.environment!r}, {self._api.region!r})"
