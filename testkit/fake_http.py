"""A scriptable local HTTP server, for what a real Airflow cannot be made to do on demand.

Tests route (method, path) to a handler that returns a status, headers and a body, and read
back every request the server saw. It is a real socket server, so the client under test runs
its whole transport (pooling, timeouts, retries) exactly as in production.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request line's target as sent: path and query, still encoded
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when it arrived

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Request], Response]


class FakeHTTPServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context (testkit.tls makes one)."""
        self.requests: list[Request] = []
        self._routes: dict[tuple[str, str], list[Handler | Response]] = {}
        # Answers what no route names (a scripted server with paths of its own, e.g.
        # testkit.flow).
        self.fallback: Handler | None = None
        # Requests received and not yet answered, on every path, and the most there were at
        # once: what reached this server concurrently (sign-ins and version checks included).
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                req = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                    target=self.path,
                )
                with fake._lock:
                    fake.in_flight += 1
                    fake.peak = max(fake.peak, fake.in_flight)
                try:
                    resp = fake._answer(req)
                    if resp.delay:
                        time.sleep(resp.delay)
                finally:
                    # Counted out before the answer leaves: once the client has it, it may
                    # send its next request, which must not overlap this one in the count.
                    with fake._lock:
                        fake.in_flight -= 1
                payload, content_type = resp.encoded()
                self.send_response(resp.status)
                headers = {"Content-Type": content_type, **resp.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                # The client may have given up (a timeout test): nothing left to tell it then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.02)  # quick shutdown between tests

    def route(self, method: str, path: str, *answers: Handler | Response) -> None:
        """Answer ``method path`` with these in turn; the last one repeats."""
        with self._lock:
            self._routes[(method, path)] = list(answers)

    def _answer(self, req: Request) -> Response:
        with self._lock:
            self.requests.append(req)
            answers = self._routes.get((req.method, req.path))
            if not answers:
                answer: Handler | Response = self.fallback or Response(
                    404, {"detail": f"no route for {req.method} {req.path}"}
                )
            else:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(req) if callable(answer) else answer

    def requests_to(self, method: str, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> FakeHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def hang_up(req: Request) -> Response:
    """The connection drops before any answer (a proxy or a worker dying mid-request)."""
    raise ConnectionResetError("hung up")


class InFlight:
    """A handler that holds each request until ``hold()`` returns, then answers ``answer``;
    ``peak`` is the most requests it held at once (what reached Airflow concurrently)."""

    def __init__(self, answer: Response, hold: Callable[[], object]) -> None:
        self._answer = answer
        self._hold = hold
        self._lock = threading.Lock()
        self._now = 0
        self.peak = 0

    def __call__(self, req: Request) -> Response:
        with self._lock:
            self._now += 1
            self.peak = max(self.peak, self._now)
        self._hold()
        with self._lock:
            self._now -= 1
        return self._answer
