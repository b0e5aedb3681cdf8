"""A reverse proxy that answers like the Airflow behind it, only slower, or fails on demand."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class DelayProxy:
    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.requests = 0
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.in_flight = 0  # requests received and not yet answered
        self.peak = 0  # the most at once: what the bot had in flight to Airflow
        # While cleared, requests are held before they are forwarded (set: none are).
        self.gate = threading.Event()
        self.gate.set()
        # Answers given instead of forwarding: (method, path prefix, status, headers), once each.
        self._faults: list[tuple[str, str, int, dict[str, str]]] = []
        self._lock = threading.Lock()
        proxy = self
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.requests += 1
                    proxy.seen.append((self.command, self.path))
                    fault = proxy._take_fault(self.command, self.path)
                    proxy.in_flight += 1
                    proxy.peak = max(proxy.peak, proxy.in_flight)
                try:
                    self._answer(fault)
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            def _answer(self, fault: tuple[int, dict[str, str]] | None) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fault is not None:
                    self._fail(*fault)
                    return
                proxy.gate.wait()
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
                resp = session.request(
                    self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=60
                )
                self.send_response(resp.status_code)
                for name, value in resp.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            def _fail(self, status: int, headers: dict[str, str]) -> None:
                # Nothing reaches Airflow: what a failing load balancer or a busy server does.
                payload = b'{"detail": "injected failure"}'
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), daemon=True
        )

    def fail_next(
        self, method: str, path_prefix: str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``method`` request under ``path_prefix`` with ``status`` itself."""
        with self._lock:
            self._faults.append((method, path_prefix, status, headers or {}))

    def _take_fault(self, method: str, path: str) -> tuple[int, dict[str, str]] | None:
        for i, (m, prefix, status, headers) in enumerate(self._faults):
            if m == method and path.startswith(prefix):
                del self._faults[i]
                return status, headers
        return None

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
