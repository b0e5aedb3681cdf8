"""The HTTP server on 127.0.0.1 and its routing, and :class:`SlackStandin`, whole, started
and stopped."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.tools.localslack.response_urls import ResponseUrls
from bot.tools.localslack.socket_mode import SocketMode
from bot.tools.localslack.webapi import WebApi
from bot.tools.localslack.websocket import WsConnection, accept_key
from bot.tools.localslack.wire import DROP, text_reply

_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: SlackStandin


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SlackStandin/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("slack stand-in: " + format, *args)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if (
            parts.path.rstrip("/") == "/socket"
            and self.headers.get("Upgrade", "").lower() == "websocket"
        ):
            self._websocket(parts.query)
            return
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        standin = self.server.standin
        if parts.path.startswith("/api/"):
            reply = standin._web_api(
                parts.path[len("/api/") :],
                query=parts.query,
                body=raw,
                content_type=self.headers.get("Content-Type", ""),
                authorization=self.headers.get("Authorization"),
            )
        elif parts.path.startswith("/response/"):
            reply = standin._response_url_post(parts.path[len("/response/") :], raw)
        else:
            reply = text_reply(404, "not found")
        if reply.status == DROP:
            # As a network failure looks to the client: the connection closes with no answer.
            self.close_connection = True
            return
        if reply.delay > 0:
            time.sleep(reply.delay)  # the stand-in's lock is not held here: other calls go on
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # A client that gave up on a held answer has closed its end: nobody is listening.
            self.close_connection = True

    def _websocket(self, query: str) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or self.headers.get("Sec-WebSocket-Version") != "13":
            self.send_error(400, "bad WebSocket handshake")
            return
        accept = accept_key(key)
        self.wfile.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode("ascii")
        )
        self.wfile.flush()
        self.close_connection = True
        ticket = (parse_qs(query).get("ticket") or [""])[0]
        self.server.standin._serve_socket(WsConnection(self.connection, self.rfile, ticket))


class SlackStandin(WebApi, ResponseUrls, SocketMode):
    """A small, faithful Slack for tests. See the package docstring."""

    def start(self) -> SlackStandin:
        if self._server is not None:
            raise RuntimeError("the Slack stand-in is already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with self._lock:
            sockets = list(self._sockets)
        for conn in sockets:
            conn.close(1001, "server stopping")
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
