"""MWAA's InvokeRestApi as a requests adapter: the transport sends to Airflow as it always does,
and each request goes to AWS instead, signed by boto3 with the bot's AWS credentials.

The adapter maps a request's method, path (without ``/api/vN``), JSON body and query to
InvokeRestApi, and Airflow's status and JSON answer back into a ``requests.Response``, so the
transport's error mapping and retries work unchanged. InvokeRestApi's limits get their own
answers: a path over 64 characters is refused before sending, a call Airflow took more than
10 seconds over and an answer over 6 MB are said as such, and a run's state stream (``/wait``)
is not offered, so the follower polls.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter

from bot.airflow.auth import BearerAuth
from bot.airflow.errors import AirflowBadRequest, AirflowUnavailable
from bot.airflow.mwaa.aws import TOO_LARGE, MwaaApi, too_slow

MAX_PATH = 64  # InvokeRestApi's Path is at most 64 characters (its API model says so)


class AwsSigned(BearerAuth):
    """Credentials travel in boto3's signature of each call: nothing to add to the request."""

    def __init__(self) -> None:
        super().__init__("")

    def apply(self, headers: dict[str, str]) -> None:
        pass

    def __repr__(self) -> str:
        return "AwsSigned()"


class InvokeRestApiAdapter(BaseAdapter):
    def __init__(self, api: MwaaApi) -> None:
        super().__init__()
        self._api = api
        self._prefix: str | None = None  # /api/v1 or /api/v2, as the environment's Airflow says
        self._lock = threading.Lock()

    def locate(self) -> str:
        """``https://<web server>`` for links, and the API version, from GetEnvironment."""
        host, version = self._api.web_server()
        major = version.split(".", 1)[0]
        with self._lock:
            self._prefix = "/api/v1" if major in ("1", "2") else "/api/v2"
        return f"https://{host}"

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        path = parts.path
        if self._prefix is None or not path.startswith(self._prefix + "/"):
            # Another API version than the environment's (the transport's version probe).
            return _answer(request, 404, {"detail": f"{path} is not this Airflow's API"})
        # MWAA builds Airflow's URL from the path itself: send it as Airflow's ids are (their
        # alphabets hold nothing a URL path cannot), not as this URL encoded them.
        path = unquote(path[len(self._prefix) :])
        if path.endswith("/wait"):
            return _answer(request, 501, {"detail": "InvokeRestApi cannot stream; polling"})
        if len(path) > MAX_PATH:
            raise AirflowBadRequest(
                f"this call's path is {len(path)} characters long, and MWAA's InvokeRestApi "
                f"takes at most {MAX_PATH} (a long DAG or run id); set mwaa_mode: login for "
                "this deployment to reach the whole REST API",
                deployment=self._api.deployment,
            )
        status, answer = self._api.invoke(
            request.method or "GET", path, _body(request.body), _query(parts.query)
        )
        # Airflow itself answers neither: they are MWAA's gateway's (its time and size limits).
        if status == 504:
            raise AirflowUnavailable(
                too_slow("InvokeRestApi"), status=status, deployment=self._api.deployment
            )
        if status == 413:
            raise AirflowUnavailable(TOO_LARGE, status=status, deployment=self._api.deployment)
        return _answer(request, status, answer)

    def close(self) -> None:
        pass


def _body(raw: bytes | str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _query(raw: str) -> dict[str, Any]:
    """The query as InvokeRestApi takes it: one value as text, a repeated key as a list."""
    values = parse_qs(raw, keep_blank_values=True)
    return {key: found[0] if len(found) == 1 else found for key, found in values.items()}


def _answer(request: requests.PreparedRequest, status: int, body: Any) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = "InvokeRestApi"
    content = b"" if body is None else json.dumps(body).encode()
    resp._content = content
    resp.raw = io.BytesIO(content)
    resp.headers["Content-Type"] = "application/json"
    resp.encoding = "utf-8"
    resp.url = request.url or ""
    resp.request = request
    return resp
