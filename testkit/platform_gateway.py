"""A managed platform's front door, on this machine: it admits a request only with the
platform's credential, and passes it on to a real Airflow with Airflow's own.

``Upstream`` is the Airflow behind (a real one from the harness, or a scripted one) and the
credential the gateway itself holds for it: a JWT from ``/auth/token`` (Airflow 3), basic auth
(Airflow 2), or nothing (a scripted server). ``Gateway`` answers 401 to whatever ``admit``
refuses, as Airflow 3 does to a missing or expired token; ``/api/vN/version`` is public, as on
Airflow. Local routes (MWAA's login endpoint) can be added to its server.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import requests

from testkit.fake_http import FakeHTTPServer, Request, Response

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",
    "server",
}
_PUBLIC = ("/api/v1/version", "/api/v2/version", "/api/v1/health", "/api/v2/monitor/health")


class Upstream:
    def __init__(
        self, url: str, *, major: int = 3, username: str | None = None, password: str = ""
    ) -> None:
        self.url = url.rstrip("/")
        self.major = major
        self._username = username
        self._password = password
        self._jwt: str | None = None
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False

    @property
    def prefix(self) -> str:
        return "/api/v2" if self.major >= 3 else "/api/v1"

    def _credential(self, renew: bool = False) -> dict[str, str]:
        if self._username is None:
            return {}
        if self.major < 3:
            raw = f"{self._username}:{self._password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        with self._lock:
            if self._jwt is None or renew:
                resp = self._session.post(
                    f"{self.url}/auth/token",
                    json={"username": self._username, "password": self._password},
                    timeout=30,
                )
                resp.raise_for_status()
                self._jwt = str(resp.json()["access_token"])
            return {"Authorization": f"Bearer {self._jwt}"}

    def send(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> requests.Response:
        """``target`` (path and query) sent to Airflow with the gateway's own credential."""
        sent = {
            k: v
            for k, v in headers.items()
            if k.lower() not in ("host", "authorization", "cookie", "content-length")
        }
        for renew in (False, True):
            resp = self._session.request(
                method,
                self.url + target,
                data=body,
                headers={**sent, **self._credential(renew)},
                timeout=60,
                allow_redirects=False,
            )
            if resp.status_code != 401 or self._username is None:
                break  # (a 401 to the gateway's own JWT: it expired; get another, once)
        return resp

    def forward(self, req: Request) -> Response:
        resp = self.send(req.method, req.target or req.path, req.body, req.headers)
        return as_response(resp)


def as_response(resp: requests.Response) -> Response:
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}
    return Response(resp.status_code, resp.content, headers=headers)


class Gateway:
    def __init__(
        self,
        upstream: Upstream,
        admit: Callable[[Request], bool],
        *,
        tls: Any = None,
    ) -> None:
        self.upstream = upstream
        self.admit = admit
        self.admitted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self.server = FakeHTTPServer(tls=tls)
        self.server.fallback = self._pass

    @property
    def url(self) -> str:
        return self.server.url

    def _pass(self, req: Request) -> Response:
        if req.method == "GET" and req.path in _PUBLIC:
            return self.upstream.forward(req)
        allowed = self.admit(req)
        with self._lock:
            if allowed:
                self.admitted += 1
            else:
                self.refused += 1
        if not allowed:
            return Response(401, {"detail": "Not authenticated"})
        return self.upstream.forward(req)

    def __enter__(self) -> Gateway:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def bearer(req: Request) -> str:
    """The request's bearer token, or ""."""
    value = req.headers.get("Authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


def cookie(req: Request, name: str) -> str:
    for part in req.headers.get("Cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
