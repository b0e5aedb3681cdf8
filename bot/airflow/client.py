"""The one Airflow REST client every command uses, for Airflow 2 (/api/v1) and 3 (/api/v2).

One instance per configured deployment. It owns a pooled ``requests.Session``, knows which API
version the server speaks (detected once, or forced), and turns every answer into the typed
values of ``bot.airflow.models`` or the typed errors of ``bot.airflow.errors``.

Reads are retried a bounded number of times with backoff; writes never are, so a trigger is
never sent twice by the client (a 401 that only renews a JWT is the exception: Airflow acted on
nothing).
"""

from __future__ import annotations

import json as json_lib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter

from bot.airflow.auth import Auth, BasicAuth, BearerAuth, JwtPasswordAuth
from bot.airflow.errors import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from bot.airflow.models import Dag, DagPage, DagRun
from bot.airflow.parse import dag_from_json, error_message, retry_after_seconds, run_from_json

log = logging.getLogger(__name__)

ApiVersion = Literal["v1", "v2"]
MAX_PAGE = 100  # both API versions cap a page at 100


class AirflowClient:
    def __init__(
        self,
        *,
        base_url: str,
        name: str = "",
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        api_version: str = "auto",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        read_retries: int = 2,
        backoff: float = 0.25,
        max_retry_wait: float = 5.0,
        pool_size: int = 16,
        max_in_flight: int = 16,
        session: requests.Session | None = None,
    ) -> None:
        if api_version not in ("auto", "v1", "v2"):
            raise ValueError(f"api_version must be auto, v1 or v2, not {api_version!r}")
        if token is None and (username is None or password is None):
            raise ValueError("give a token, or a username and a password")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._read_retries = read_retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._session = session or _pooled_session(pool_size, self.base_url)
        self._token = token
        self._username = username
        self._password = password
        self._forced_version: ApiVersion | None = api_version if api_version != "auto" else None  # type: ignore[assignment]
        self._version: ApiVersion | None = self._forced_version
        self._version_lock = threading.Lock()
        self._auth: Auth | None = None
        self._can_wait: bool | None = None
        # Airflow 3's api-server hangs for good when more calls are in flight than its database
        # pool holds (5 + 10 by default; apache/airflow#73422): however many commands arrive,
        # at most this many calls go to one deployment at once; the rest wait their turn.
        # (wait_run's streams are outside it, bounded by the follower's own few threads.)
        self._in_flight = threading.BoundedSemaphore(max(1, max_in_flight))

    # -- version and auth -------------------------------------------------------------------

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
            resp = self._send("GET", f"{self.base_url}/api/{version}/version", auth=None)
            if resp.status_code != 404:
                log.info("deployment %s speaks /api/%s", self.name, version)
                return version
        raise AirflowUnavailable(
            f"{self.base_url} answers neither /api/v2 nor /api/v1: "
            "is it the Airflow base URL (before /api)?",
            status=404,
            deployment=self.name,
        )

    def _get_auth(self) -> Auth:
        if self._auth is None:
            if self._token is not None:
                self._auth = BearerAuth(self._token)
            elif self.api_version == "v1":
                self._auth = BasicAuth(self._username or "", self._password or "")
            else:
                self._auth = JwtPasswordAuth(
                    base_url=self.base_url,
                    username=self._username or "",
                    password=self._password or "",
                    session=self._session,
                    timeout=self._timeout,
                    deployment=self.name,
                )
        return self._auth

    # -- operations -------------------------------------------------------------------------

    def version(self) -> str:
        """The Airflow version the server reports."""
        body = self._call("GET", "/version")
        return str(body.get("version", "unknown"))

    def list_dags(self, *, pattern: str | None = None, limit: int = 20, offset: int = 0) -> DagPage:
        """One page of DAGs whose id contains ``pattern``; only that page is fetched."""
        limit = max(1, min(limit, MAX_PAGE))
        params: dict[str, Any] = {"limit": limit, "offset": max(0, offset), "order_by": "dag_id"}
        if pattern:
            params["dag_id_pattern"] = pattern
        body = self._call("GET", "/dags", params=params)
        dags = tuple(dag_from_json(d) for d in body.get("dags", []))
        total = int(body.get("total_entries", len(dags)))
        return DagPage(dags=dags, total=total, offset=offset, limit=limit)

    def get_dag(self, dag_id: str) -> Dag:
        return dag_from_json(self._call("GET", f"/dags/{_seg(dag_id)}"))

    def set_paused(self, dag_id: str, paused: bool) -> Dag:
        body = self._call(
            "PATCH",
            f"/dags/{_seg(dag_id)}",
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
        )
        return dag_from_json(body)

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        note: str | None = None,
    ) -> DagRun:
        """Create a DAG run. A naive ``logical_date`` is refused before any call."""
        if logical_date is not None and logical_date.utcoffset() is None:
            raise AirflowBadRequest(
                "the logical date needs a time zone, e.g. 2022-11-16T11:34:00Z",
                deployment=self.name,
            )
        body: dict[str, Any] = {"conf": dict(conf or {})}
        if logical_date is not None:
            body["logical_date"] = logical_date.isoformat()
        elif self.api_version == "v2":
            body["logical_date"] = None  # v2 requires the key; null means "no logical date"
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return run_from_json(self._call("POST", f"/dags/{_seg(dag_id)}/dagRuns", json=body))

    def list_runs(self, dag_id: str, *, limit: int = 5) -> list[DagRun]:
        """The most recent runs of a DAG, newest first."""
        order = "-execution_date" if self.api_version == "v1" else "-run_after"
        params = {"limit": max(1, min(limit, MAX_PAGE)), "order_by": order}
        body = self._call("GET", f"/dags/{_seg(dag_id)}/dagRuns", params=params)
        runs = [run_from_json(r) for r in body.get("dag_runs", [])]
        if not runs and self.api_version == "v1":
            self.get_dag(dag_id)  # v1 answers 200 with no runs for an unknown DAG: ask, so it 404s
        return runs

    def latest_runs(self, dag_ids: Sequence[str]) -> dict[str, DagRun]:
        """The newest run of each DAG among the most recent runs of all of them, in one call."""
        if not dag_ids:
            return {}
        order = "-execution_date" if self.api_version == "v1" else "-run_after"
        body = self._call(
            "POST",
            "/dags/~/dagRuns/list",
            json={"dag_ids": list(dag_ids), "page_limit": MAX_PAGE, "order_by": order},
            retry=True,  # a read, despite the verb
        )
        latest: dict[str, DagRun] = {}
        for raw in body.get("dag_runs", []):
            run = run_from_json(raw)
            latest.setdefault(run.dag_id, run)
        return latest

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        return run_from_json(self._call("GET", f"/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}"))

    def can_wait(self) -> bool:
        """Whether the server streams a run's state changes (Airflow 3.1+: ``.../wait``)."""
        if self._can_wait is None:
            try:
                numbers = re.findall(r"\d+", self.version())[:2] if self.api_version == "v2" else []
                self._can_wait = tuple(int(n) for n in numbers) >= (3, 1)
            except AirflowError:
                return False  # ask again next time
        return self._can_wait

    def wait_run(
        self, dag_id: str, run_id: str, *, seconds: float, interval: float = 1.0
    ) -> Iterator[str]:
        """The run's state as Airflow streams it (a line per ``interval``), for up to
        ``seconds`` or until it ends. Experimental in Airflow: callers fall back on get_run."""
        url = f"{self.base_url}/api/v2/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/wait"
        auth = self._get_auth()
        headers = {"Accept": "application/x-ndjson"}
        auth.apply(headers)
        deadline = time.monotonic() + seconds
        try:
            resp = self._session.get(
                url,
                params={"interval": interval},
                headers=headers,
                stream=True,
                timeout=(self._timeout[0], interval + 10),
            )
        except requests.RequestException as exc:
            raise AirflowUnavailable(f"{type(exc).__name__} waiting on the run",
                                     deployment=self.name) from None  # fmt: skip
        with resp:
            if resp.status_code == 401:
                auth.renew()
            if resp.status_code >= 400:
                raise self._error(resp)
            try:
                for line in resp.iter_lines():
                    if line:
                        state = json_lib.loads(line).get("state")
                        if isinstance(state, str):
                            yield state
                    if time.monotonic() >= deadline:
                        return
            except (requests.RequestException, ValueError) as exc:
                raise AirflowUnavailable(f"the run's state stream broke: {type(exc).__name__}",
                                         deployment=self.name) from None  # fmt: skip

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        """The ids of a run's failed (or upstream-failed) task instances, in task-id order."""
        body = self._call(
            "GET",
            f"/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/taskInstances",
            params={"state": ["failed", "upstream_failed"], "limit": MAX_PAGE},
        )
        tasks = {str(ti.get("task_id")) for ti in body.get("task_instances", [])}
        return sorted(tasks)

    def clear_failed(self, dag_id: str, run_id: str) -> list[str]:
        """Clear a run's failed task instances so the scheduler runs them again; returns their
        task ids. Never retried: a clear is an action."""
        body = self._call(
            "POST",
            f"/dags/{_seg(dag_id)}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "only_failed": True,
                "dry_run": False,
                "reset_dag_runs": True,
            },
            retry=False,
        )
        return sorted({str(ti.get("task_id")) for ti in body.get("task_instances", [])})

    # -- links into the Airflow UI ----------------------------------------------------------

    def dag_url(self, dag_id: str) -> str:
        if self.api_version == "v1":
            return f"{self.base_url}/dags/{_seg(dag_id)}/grid"
        return f"{self.base_url}/dags/{_seg(dag_id)}"

    def run_url(self, dag_id: str, run_id: str) -> str:
        if self.api_version == "v1":
            return f"{self.base_url}/dags/{_seg(dag_id)}/grid?{urlencode({'dag_run_id': run_id})}"
        return f"{self.base_url}/dags/{_seg(dag_id)}/runs/{_seg(run_id)}"

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"AirflowClient(name={self.name!r}, base_url={self.base_url!r})"

    # -- transport --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/api/{self.api_version}{path}"
        retries = self._read_retries if (method == "GET" if retry is None else retry) else 0
        auth = self._get_auth()
        renewed = False
        attempt = 0
        while True:
            resp = self._send(
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
                raise self._error(resp)
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

    def _send(
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
                resp = self._session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self._timeout
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
                f"Airflow at {self.base_url} did not answer within {self._timeout[1]:g} s",
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

    def _error(self, resp: requests.Response) -> AirflowError:
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


def _pooled_session(pool_size: int, base_url: str) -> requests.Session:
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


def _seg(value: str) -> str:
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
