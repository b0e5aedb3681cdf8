"""Requests made by hand to the bot's WSGI application, in process: WSGI environs whose body
stream counts what was read, and the app's answer as a status and a body.

Also the settings of a bare local bot for such tests: one deployment at a port nobody answers,
and a viewer, for requests that must be refused or answered before any Airflow call.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.serve.wsgi import EVENTS_PATH, WsgiApp
from testkit.bot_process import free_port

CONFIG = """
deployments:
  prod:
    url: http://127.0.0.1:{port}
    token: ${{PROD_TOKEN}}
grants:
  - role: viewer
    users: [U0ALICE]
"""


def local_env(tmp: Path, **more: str) -> dict[str, str]:
    """The environment of a bot with ``CONFIG`` and a SQLite store under ``tmp``."""
    config = tmp / "chatops.yml"
    config.write_text(CONFIG.format(port=free_port()))
    return {
        "CHATOPS_CONFIG": str(config),
        "PROD_TOKEN": "unused",
        "DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
        **more,
    }


class Input(io.RawIOBase):
    """A request body stream that counts what the app read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.bytes_read = 0
        self.read_before_answer: int | None = None  # set by call() at the answer's first chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._data.read(-1 if size is None else size)
        self.bytes_read += len(chunk)
        return chunk


def environ(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    content_length: str | None = "",
    path: str = EVENTS_PATH,
) -> dict[str, Any]:
    """A WSGI environ for ``POST path``; ``content_length=""`` means the body's true length."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "wsgi.input": Input(body),
        "wsgi.url_scheme": "http",
    }
    if content_length is not None:
        env["CONTENT_LENGTH"] = content_length or str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return env


def call(app: WsgiApp, env: dict[str, Any]) -> tuple[int, bytes]:
    """Status and body of the app's answer; an exception escaping the app is a 500."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> None:
        statuses.append(status)

    stream = env["wsgi.input"]
    chunks: list[bytes] = []
    try:
        for chunk in app(env, start_response):
            # A WSGI server sends each chunk as it comes: what the app read before the first
            # one is what it read before the client could see its answer.
            if not chunks and isinstance(stream, Input):
                stream.read_before_answer = stream.bytes_read
            chunks.append(chunk)
        body = b"".join(chunks)
    except Exception:  # what a WSGI server turns into "500 Internal Server Error"
        return 500, b""
    return int(statuses[0].split()[0]), body
