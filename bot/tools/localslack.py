"""A local stand-in for Slack: Web API, response URLs and Socket Mode.

The console (`python -m bot console`) runs the bot against it, and the tests do too.

One ``ThreadingHTTPServer`` on 127.0.0.1 (free port) serves:

* ``/api/<method>``: the Web API methods the bot uses, answered in Slack's shapes,
  including Slack's error answers (HTTP 200, ``{"ok": false, "error": ...}``);
* ``/response/<id>``: response URLs handed out by :meth:`SlackStandin.new_response_url`;
* ``/socket?ticket=...``: a Socket Mode WebSocket (RFC 6455, written with the stdlib),
  the URL ``apps.connections.open`` hands out to the app token.

Every request is recorded as a :class:`Call` before it is answered. Faults
(``fail_next``, ``rate_limit_next``, ``server_error_next``, ``disconnect_next``) are queued per
method and consumed in order. Point ``slack_sdk.WebClient(base_url=standin.api_url)`` at it.

Stop Socket Mode clients (``client.close()``) before :meth:`SlackStandin.stop`, or their
auto-reconnect will keep trying to reach a server that is gone.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

_log = logging.getLogger(__name__)

RESPONSE_URL_MAX_USES = 5
"""Slack accepts up to 5 posts to one response_url (within 30 minutes)."""

# Form fields that slack_sdk (and Slack) carry as JSON text inside a form body.
_JSON_FORM_FIELDS = frozenset({"blocks", "attachments", "view", "metadata", "user_auth_blocks"})
# Methods that take the app-level token (xapp-...); every other method takes the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_JSON_CT = "application/json; charset=utf-8"

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
_MAX_BLOCKS = 50
_MAX_SECTION_TEXT = 3000
_MAX_HEADER_TEXT = 150
_MAX_SECTION_FIELDS = 10
_MAX_FIELD_TEXT = 2000
_MAX_ACTIONS_ELEMENTS = 25
_MAX_CONTEXT_ELEMENTS = 10
_MAX_ACTION_ID = 255
_MAX_BLOCK_ID = 255
_MAX_BUTTON_TEXT = 75
_MAX_BUTTON_VALUE = 2000
_MAX_MESSAGE_TEXT = 40000


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    """Web API method (``"chat.postMessage"``) or ``"response_url"``."""
    params: dict[str, Any]
    """Form, query and JSON parameters merged; JSON-carrying form fields decoded. No token."""
    token: str | None = field(repr=False)
    """The token used (``Authorization: Bearer`` or form ``token``); kept out of ``repr``."""
    at: float
    """``time.monotonic()`` when the request arrived."""
    result: dict[str, Any] | None = None
    """What the stand-in answered a Web API call (``{"ok": ..., ...}``), set before anyone can
    read the call; None for response URLs and non-JSON answers."""


@dataclass(frozen=True)
class _Fault:
    kind: Literal["fail", "ratelimit", "server_error", "disconnect"]
    error: str = ""
    retry_after: int = 1
    status: int = 500


@dataclass(frozen=True)
class _Reply:
    status: int  # DROP: no answer at all, the connection is closed
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


DROP = 0


class _SlackError(Exception):
    """A Web API error answer: HTTP 200 with ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra or {}


@dataclass
class _ResponseUrl:
    url: str
    channel: str | None
    message_ts: str | None
    uses: int = 0
    expired: bool = False


def _json_reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(
        status, json.dumps(body).encode("utf-8"), {"Content-Type": _JSON_CT, **(headers or {})}
    )


def _text_reply(status: int, text: str) -> _Reply:
    return _Reply(status, text.encode("utf-8"), {"Content-Type": "text/html"})


def _s(value: Any) -> str:
    """A parameter as text (form values are text already; JSON ones may be numbers)."""
    return "" if value is None else str(value)


def _missing_arg(name: str) -> _SlackError:
    return _SlackError(
        "invalid_arguments",
        {"response_metadata": {"messages": [f"[ERROR] missing required field: {name}"]}},
    )


def _decode_json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text_of(obj: Any) -> str:
    """The ``text`` of a text object (``{"type": "mrkdwn", "text": ...}``) or ''."""
    if isinstance(obj, dict):
        return _s(obj.get("text"))
    return ""


def _too_long(limit: int, pointer: str) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _validate_element(el: Any, at: str) -> list[str]:
    errors: list[str] = []
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [f"missing required field: type [json-pointer:{at}/type]"]
    if len(_s(el.get("action_id"))) > _MAX_ACTION_ID:
        errors.append(_too_long(_MAX_ACTION_ID, f"{at}/action_id"))
    if el["type"] == "button":
        if len(_text_of(el.get("text"))) > _MAX_BUTTON_TEXT:
            errors.append(_too_long(_MAX_BUTTON_TEXT, f"{at}/text/text"))
        if len(_s(el.get("value"))) > _MAX_BUTTON_VALUE:
            errors.append(_too_long(_MAX_BUTTON_VALUE, f"{at}/value"))
    return errors


def validate_blocks(blocks: Any) -> list[str]:
    """Block Kit limits Slack enforces, as Slack words its ``invalid_blocks`` errors."""
    if not isinstance(blocks, list):
        return ["expected an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > _MAX_BLOCKS:
        errors.append(f"no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{at}]")
            continue
        if len(_s(block.get("block_id"))) > _MAX_BLOCK_ID:
            errors.append(_too_long(_MAX_BLOCK_ID, f"{at}/block_id"))
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide either text or fields [json-pointer:{at}]")
            if len(_text_of(block.get("text"))) > _MAX_SECTION_TEXT:
                errors.append(_too_long(_MAX_SECTION_TEXT, f"{at}/text/text"))
            fields = block.get("fields") or []
            if len(fields) > _MAX_SECTION_FIELDS:
                errors.append(
                    f"no more than {_MAX_SECTION_FIELDS} items allowed [json-pointer:{at}/fields]"
                )
            for j, f in enumerate(fields):
                if len(_text_of(f)) > _MAX_FIELD_TEXT:
                    errors.append(_too_long(_MAX_FIELD_TEXT, f"{at}/fields/{j}/text"))
            if "accessory" in block:
                errors.extend(_validate_element(block["accessory"], f"{at}/accessory"))
        elif kind == "header":
            if len(_text_of(block.get("text"))) > _MAX_HEADER_TEXT:
                errors.append(_too_long(_MAX_HEADER_TEXT, f"{at}/text/text"))
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"missing required field: elements [json-pointer:{at}]")
                continue
            limit = _MAX_ACTIONS_ELEMENTS if kind == "actions" else _MAX_CONTEXT_ELEMENTS
            if len(elements) > limit:
                errors.append(f"no more than {limit} items allowed [json-pointer:{at}/elements]")
            if kind == "actions":
                for j, el in enumerate(elements):
                    errors.extend(_validate_element(el, f"{at}/elements/{j}"))
    return errors


# --------------------------------------------------------------------------- WebSocket


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked frame (servers never mask, RFC 6455 5.1)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _read_exact(rfile: BufferedIOBase, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = rfile.read(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class _WsFrameError(Exception):
    pass


def _read_ws_frame(rfile: BufferedIOBase) -> tuple[int, bool, bytes] | None:
    """(opcode, fin, payload) of the next client frame, or None at end of stream."""
    head = _read_exact(rfile, 2)
    if head is None:
        return None
    fin = bool(head[0] & 0x80)
    opcode = head[0] & 0x0F
    masked = bool(head[1] & 0x80)
    length = head[1] & 0x7F
    if length == 126:
        ext = _read_exact(rfile, 2)
        if ext is None:
            return None
        length = struct.unpack("!H", ext)[0]
    elif length == 127:
        ext = _read_exact(rfile, 8)
        if ext is None:
            return None
        length = struct.unpack("!Q", ext)[0]
    if not masked:
        raise _WsFrameError("client frames must be masked (RFC 6455 5.1)")
    mask = _read_exact(rfile, 4)
    data = _read_exact(rfile, length) if length else b""
    if mask is None or data is None:
        return None
    return opcode, fin, _unmask(data, mask)


class _WsConnection:
    OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

    def __init__(self, sock: socket.socket, rfile: BufferedIOBase, ticket: str) -> None:
        self.sock = sock
        self.rfile = rfile
        self.ticket = ticket
        self.pings = 0
        self.pongs = 0
        self.closed = False
        self.closed_event = threading.Event()
        self._send_lock = threading.Lock()

    def send(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if self.closed:
                raise ConnectionError("the Socket Mode connection is closed")
            self.sock.sendall(_ws_frame(opcode, payload))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(self.OP_TEXT, json.dumps(message).encode("utf-8"))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (if still open) and drop the TCP connection."""
        with self._send_lock:
            if not self.closed:
                with contextlib.suppress(OSError):
                    self.sock.sendall(
                        _ws_frame(self.OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8"))
                    )
            self.closed = True
            self.closed_event.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- HTTP plumbing


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
            reply = _text_reply(404, "not found")
        if reply.status == DROP:
            # As a network failure looks to the client: the connection closes with no answer.
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _websocket(self, query: str) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or self.headers.get("Sec-WebSocket-Version") != "13":
            self.send_error(400, "bad WebSocket handshake")
            return
        digest = hashlib.sha1((key + _WS_GUID).encode("ascii"), usedforsecurity=False).digest()
        accept = base64.b64encode(digest).decode()
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
        self.server.standin._serve_socket(_WsConnection(self.connection, self.rfile, ticket))


# --------------------------------------------------------------------------- the stand-in


class SlackStandin:
    """A small, faithful Slack for tests. See the module docstring."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",  # noqa: S107 - a fake token
        app_token: str = "xapp-test-token",  # noqa: S107 - a fake token
        team_id: str = "T0TEST",
        team_name: str = "Test Team",
        team_domain: str = "test-team",
        bot_user_id: str = "U0BOT",
        bot_user_name: str = "airflow-bot",
        bot_id: str = "B0BOT",
        app_id: str = "A0TEST",
        member_channels: set[str] | None = None,
        socket_ping_interval: float | None = 0.2,
        bot_scopes: tuple[str, ...] = ("commands", "chat:write", "usergroups:read"),
    ) -> None:
        """``socket_ping_interval``: how often the server pings Socket Mode clients (None: never).

        Slack's servers ping too. A short interval also keeps slack_sdk's builtin client from
        blocking ``close()`` for up to 3 s in a ``recv()`` that holds its receive lock.
        """
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_user_name = bot_user_name
        self.bot_id = bot_id
        self.app_id = app_id
        self.socket_ping_interval = socket_ping_interval
        self.bot_scopes = bot_scopes
        """The bot token's scopes, sent in the ``x-oauth-scopes`` header as Slack does."""
        self.member_channels: set[str] | None = member_channels
        """None: the bot is in every channel. Otherwise posting elsewhere is ``not_in_channel``."""

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._ts_base = int(time.time())
        self._ts_count = 0
        self._id_count = 0
        self._sockets: list[_WsConnection] = []
        self._socket_acks: list[dict[str, Any]] = []
        self._socket_messages: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "apps.connections.open": self._apps_connections_open,
        }

    # ---------------------------------------------------------------- lifecycle

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

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("start() the Slack stand-in first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api/``, for ``WebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------- recorded calls

    @property
    def calls(self) -> list[Call]:
        """Every call so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for(
        self,
        method: str | tuple[str, ...],
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until at least ``count`` calls to ``method`` (or to any of several methods)
        matching ``where`` exist; return them all, in the order they were made."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    c for c in self._calls if c.method in methods and (where is None or where(c))
                ]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"waited {timeout}s for {count} call(s) to {method}"
                        f"{' matching the filter' if where else ''}, found {len(found)}. "
                        f"Recorded:\n{self._describe_calls()}"
                    )
                self._cond.wait(remaining)

    def calls_since(self, index: int, timeout: float) -> list[Call]:
        """Calls after the first ``index``, waiting up to ``timeout`` s for at least one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._calls) <= index:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            return self._calls[index:]

    def _describe_calls(self) -> str:
        if not self._calls:
            return "  (no calls)"
        lines = []
        for c in self._calls:
            params = json.dumps(c.params, default=str)
            lines.append(f"  {c.method} {params[:300]}{'...' if len(params) > 300 else ''}")
        return "\n".join(lines)

    def reset(self) -> None:
        """Forget recorded calls, queued faults, messages, views and Socket Mode acks.

        Configuration (tokens, ``member_channels``, usergroups) and issued response URLs stay.
        """
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()
            self._views.clear()
            self._socket_acks.clear()
            self._socket_messages.clear()

    # ---------------------------------------------------------------- faults

    def _queue(self, method: str, fault: _Fault, times: int) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend([fault] * times)

    def fail_next(self, method: str, error: str = "not_in_channel", times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 200 ``{"ok": false, "error": error}``.

        For ``"response_url"`` the answer is HTTP 404 with ``error`` as the body.
        """
        self._queue(method, _Fault("fail", error=error), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP 429 with ``Retry-After: retry_after`` and
        ``{"ok": false, "error": "ratelimited"}``, as Slack does."""
        self._queue(
            method, _Fault("ratelimit", error="ratelimited", retry_after=retry_after), times
        )

    def server_error_next(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP ``status`` with an HTML body, like Slack's 5xx."""
        self._queue(method, _Fault("server_error", status=status), times)

    def disconnect_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls get no answer: the connection is closed once the request is
        read, as when the network fails on the way. slack_sdk retries such a call once, so
        ``times=2`` makes one call of the bot fail."""
        self._queue(method, _Fault("disconnect"), times)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    @staticmethod
    def _fault_reply(fault: _Fault, *, webhook: bool = False) -> _Reply:
        if fault.kind == "ratelimit":
            return _json_reply(
                429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            )
        if fault.kind == "disconnect":
            return _Reply(DROP, b"")
        if fault.kind == "server_error":
            return _text_reply(fault.status, f"<html><body>HTTP {fault.status}</body></html>")
        if webhook:
            return _text_reply(404, fault.error)
        return _json_reply(200, {"ok": False, "error": fault.error})

    # ---------------------------------------------------------------- state

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        with self._lock:
            self._usergroups[usergroup_id] = list(users)

    @property
    def messages(self) -> dict[str, list[dict[str, Any]]]:
        """channel -> messages posted there, in order.

        A deep copy; ``chat.update`` and response URLs edit the stand-in's originals."""
        with self._lock:
            return copy.deepcopy(self._messages)

    def thread(self, channel: str, parent_ts: str) -> list[dict[str, Any]]:
        """Replies whose ``thread_ts`` is ``parent_ts``, in order (the parent excluded)."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel, [])
                if m.get("thread_ts") == parent_ts and m["ts"] != parent_ts
            ]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            found = self._find_message(channel, ts)
            if found is None:
                have = [m["ts"] for m in self._messages.get(channel, [])]
                raise KeyError(f"no message {ts} in {channel}; messages there: {have}")
            return copy.deepcopy(found)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """view id -> the view as last opened/updated (a deep copy)."""
        with self._lock:
            return copy.deepcopy(self._views)

    def _find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self._messages.get(channel, []):
            if m["ts"] == ts:
                return m
        return None

    def _next_ts(self) -> str:
        with self._lock:
            self._ts_count += 1
            micros = self._ts_count * 100
            return f"{self._ts_base + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._id_count += 1
            return f"{prefix}0{self._id_count:08d}"

    # ---------------------------------------------------------------- response URLs

    def new_response_url(self, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL on this server.

        Posts to it are recorded as ``Call("response_url", params=<json body> + "_response_url")``
        and answered ``200 ok``; after 5 uses it answers 404 ``expired_url``. Give ``channel``
        (and ``message_ts`` for a message's buttons) to make ``replace_original`` /
        ``delete_original`` / ``response_type: in_channel`` change :attr:`messages`.
        """
        rid = uuid.uuid4().hex
        url = f"{self.base_url}/response/{rid}"
        with self._lock:
            self._response_urls[rid] = _ResponseUrl(url, channel, message_ts)
        return url

    def expire_response_url(self, url: str) -> None:
        """Make ``url`` answer like one older than 30 minutes."""
        with self._lock:
            for state in self._response_urls.values():
                if state.url == url:
                    state.expired = True
                    return
        raise KeyError(f"not a response URL of this stand-in: {url}")

    def _response_url_post(self, rid: str, raw: bytes) -> _Reply:
        url = f"{self.base_url}/response/{rid}"
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        params: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        params["_response_url"] = url
        # Recording and applying happen under one hold of the lock: whoever wait_for()s this
        # call sees its effects (messages) too.
        with self._cond:
            self._record(Call("response_url", copy.deepcopy(params), None, time.monotonic()))
            fault = self._take_fault("response_url")
            if fault is not None:
                return self._fault_reply(fault, webhook=True)
            state = self._response_urls.get(rid)
            if state is None:
                return _text_reply(404, "no_service")
            state.uses += 1
            if state.expired or state.uses > RESPONSE_URL_MAX_USES:
                return _text_reply(404, "expired_url")
            if not isinstance(body, dict):
                return _text_reply(400, "invalid_payload")
            has_content = any(body.get(k) for k in ("text", "blocks", "attachments"))
            if not has_content and not body.get("delete_original"):
                return _text_reply(400, "no_text")
            self._apply_response(state, body)
        return _text_reply(200, "ok")

    def _apply_response(self, state: _ResponseUrl, body: dict[str, Any]) -> None:
        if state.channel is None:
            return
        target = (
            self._find_message(state.channel, state.message_ts)
            if state.message_ts is not None
            else None
        )
        if body.get("delete_original") and target is not None:
            self._messages[state.channel].remove(target)
        elif body.get("replace_original") and target is not None:
            target["text"] = _s(body.get("text"))
            for key in ("blocks", "attachments"):
                if key in body:
                    target[key] = body[key]
                else:
                    target.pop(key, None)
        elif body.get("response_type") == "in_channel" and not body.get("replace_original"):
            msg = self._new_message(
                _s(body.get("text")), body.get("blocks"), body.get("attachments")
            )
            thread_ts = _s(body.get("thread_ts"))
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self._messages.setdefault(state.channel, []).append(msg)

    # ---------------------------------------------------------------- Web API

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    @staticmethod
    def _parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, values in parse_qs(query, keep_blank_values=True).items():
            params[key] = values[0]
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/json":
            decoded = json.loads(body.decode("utf-8")) if body else {}
            if not isinstance(decoded, dict):
                raise ValueError("a JSON body must be an object")
            params.update(decoded)
        elif body:
            for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                params[key] = values[0]
            for key in _JSON_FORM_FIELDS & params.keys():
                params[key] = _decode_json_field(params[key])
        return params

    def _web_api(
        self, method: str, *, query: str, body: bytes, content_type: str, authorization: str | None
    ) -> _Reply:
        bad_json = False
        try:
            params = self._parse_params(query, body, content_type)
        except (ValueError, UnicodeDecodeError):
            params, bad_json = {}, True
        # A token in a JSON body is not honoured by Slack: JSON requests need the header.
        form_token = params.pop("token", None)
        token: str | None = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        elif isinstance(form_token, str) and not content_type.lower().startswith(
            "application/json"
        ):
            token = form_token
        # Recording and answering happen under one hold of the lock: whoever wait_for()s this
        # call also sees its effects (a posted message, an edit) in the state.
        with self._cond:
            call = Call(method, copy.deepcopy(params), token, time.monotonic())
            self._record(call)
            reply = self._answer(method, params, token, bad_json=bad_json)
            with contextlib.suppress(ValueError):
                answer = json.loads(reply.body)
                call.result = answer if isinstance(answer, dict) else None
            if token == self.bot_token and reply.status == 200:
                # Slack names the token's scopes on every answer; `python -m bot doctor` reads it.
                reply.headers["x-oauth-scopes"] = ",".join(self.bot_scopes)
            return reply

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None, *, bad_json: bool
    ) -> _Reply:
        fault = self._take_fault(method)
        if fault is not None:
            return self._fault_reply(fault)
        handler = self._handlers.get(method)
        if handler is None:
            return _json_reply(200, {"ok": False, "error": "unknown_method"})
        if not token:
            return _json_reply(200, {"ok": False, "error": "not_authed"})
        if token not in (self.bot_token, self.app_token):
            return _json_reply(200, {"ok": False, "error": "invalid_auth"})
        if (token == self.app_token) != (method in _APP_TOKEN_METHODS):
            return _json_reply(200, {"ok": False, "error": "not_allowed_token_type"})
        if bad_json:
            return _json_reply(200, {"ok": False, "error": "invalid_json"})
        try:
            answer = handler(params)
        except _SlackError as e:
            return _json_reply(200, {"ok": False, "error": e.error, **e.extra})
        return _json_reply(200, answer)

    def _check_member(self, channel: str) -> None:
        if self.member_channels is not None and channel not in self.member_channels:
            raise _SlackError("not_in_channel")

    @staticmethod
    def _content(params: dict[str, Any]) -> tuple[str | None, Any, Any]:
        """(text, blocks, attachments) of a message request; raises Slack's errors."""
        text = None if params.get("text") is None else _s(params.get("text"))
        blocks = _decode_json_field(params.get("blocks"))
        attachments = _decode_json_field(params.get("attachments"))
        if not (text and text.strip()) and not blocks and not attachments:
            raise _SlackError("no_text")
        if text is not None and len(text) > _MAX_MESSAGE_TEXT:
            raise _SlackError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise _SlackError("invalid_blocks_format")
            errors = validate_blocks(blocks)
            if errors:
                raise _SlackError(
                    "invalid_blocks",
                    {
                        "errors": errors,
                        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                    },
                )
        if attachments is not None and not isinstance(attachments, list):
            raise _SlackError("invalid_attachments")
        return text, blocks, attachments

    def _new_message(self, text: str, blocks: Any, attachments: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "ts": self._next_ts(),
        }
        if blocks is not None:
            msg["blocks"] = blocks
        if attachments is not None:
            msg["attachments"] = attachments
        return msg

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_user_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _s(params.get("channel"))
        if not channel:
            raise _SlackError("channel_not_found")
        self._check_member(channel)
        text, blocks, attachments = self._content(params)
        msg = self._new_message(text or "", blocks, attachments)
        thread_ts = _s(params.get("thread_ts"))
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self._find_message(channel, thread_ts)
            if parent is not None:
                msg["parent_user_id"] = parent["user"]
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                parent["latest_reply"] = msg["ts"]
        self._messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _s(params.get("channel"))
        if not channel:
            raise _SlackError("channel_not_found")
        self._check_member(channel)
        ts = _s(params.get("ts"))
        msg = self._find_message(channel, ts) if ts else None
        if msg is None:
            raise _SlackError("message_not_found")
        text, blocks, attachments = self._content(params)
        if text is not None:
            msg["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:
                if value:
                    msg[key] = value
                else:  # an empty array removes them; leaving the field out keeps them
                    msg.pop(key, None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _s(params.get("channel"))
        if not channel:
            raise _SlackError("channel_not_found")
        if not _s(params.get("user")):
            raise _SlackError("user_not_in_channel")
        self._check_member(channel)
        self._content(params)
        return {"ok": True, "message_ts": self._next_ts()}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        users = self._usergroups.get(_s(params.get("usergroup")))
        if users is None:
            raise _SlackError("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _view_object(
        self, view: Any, view_id: str, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise _SlackError(
                "invalid_arguments",
                {"response_metadata": {"messages": ["[ERROR] invalid view [json-pointer:/view]"]}},
            )
        errors = validate_blocks(view.get("blocks", []))
        if errors:
            raise _SlackError(
                "invalid_arguments",
                {"response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]}},
            )
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": _s(view.get("private_metadata")),
            "callback_id": _s(view.get("callback_id")),
            "external_id": _s(view.get("external_id")),
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:20],
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": previous["root_view_id"] if previous else view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not _s(params.get("trigger_id")) and not _s(params.get("interactivity_pointer")):
            raise _missing_arg("trigger_id")
        if params.get("view") is None:
            raise _missing_arg("view")
        view = self._view_object(_decode_json_field(params["view"]), self._next_id("V"), None)
        self._views[view["id"]] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = _s(params.get("view_id")), _s(params.get("external_id"))
        if not view_id and not external_id:
            raise _missing_arg("view_id")
        if params.get("view") is None:
            raise _missing_arg("view")
        current = self._views.get(view_id) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self._views.values() if v["external_id"] == external_id), None
            )
        if current is None:
            raise _SlackError("not_found")
        given_hash = _s(params.get("hash"))
        if given_hash and given_hash != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._view_object(_decode_json_field(params["view"]), current["id"], current)
        self._views[view["id"]] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = _s(params.get("user"))
        if not re.fullmatch(r"[UW][A-Z0-9]+", user_id):
            raise _SlackError("user_not_found")
        is_bot = user_id == self.bot_user_id
        name = (
            self.bot_user_name
            if is_bot
            else (re.sub(r"^[UW]0*", "", user_id).lower() or user_id.lower())
        )
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "deleted": False,
                "real_name": name.title(),
                "tz": "UTC",
                "tz_label": "Coordinated Universal Time",
                "tz_offset": 0,
                "is_admin": False,
                "is_owner": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "profile": {"real_name": name.title(), "display_name": name, "team": self.team_id},
            },
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _s(params.get("channel"))
        if not re.fullmatch(r"[CGD][A-Z0-9]+", channel):
            raise _SlackError("channel_not_found")
        is_im = channel.startswith("D")
        is_private = channel.startswith("G")
        info: dict[str, Any] = {
            "id": channel,
            "created": self._ts_base,
            "is_archived": False,
            "is_channel": not is_im and not is_private,
            "is_group": is_private,
            "is_im": is_im,
            "is_private": is_private or is_im,
            "is_member": self.member_channels is None or channel in self.member_channels,
        }
        if not is_im:
            name = re.sub(r"^[CG]0*", "", channel).lower() or channel.lower()
            info.update(name=name, name_normalized=name)
        return {"ok": True, "channel": info}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={uuid.uuid4()}"}

    # ---------------------------------------------------------------- Socket Mode

    def _serve_socket(self, conn: _WsConnection) -> None:
        with self._cond:
            self._sockets.append(conn)
            count = len(self._sockets)
            self._cond.notify_all()
        try:
            conn.send_json(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {
                        "host": "applink-standin",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
            if self.socket_ping_interval:
                threading.Thread(
                    target=self._ping_socket,
                    args=(conn, self.socket_ping_interval),
                    name="slack-standin-ping",
                    daemon=True,
                ).start()
            self._socket_loop(conn)
        except (OSError, _WsFrameError) as e:
            _log.debug("Socket Mode connection ended: %s", e)
            conn.close(1002, "protocol error")
        finally:
            conn.close()
            with self._cond:
                if conn in self._sockets:
                    self._sockets.remove(conn)
                self._cond.notify_all()

    @staticmethod
    def _ping_socket(conn: _WsConnection, interval: float) -> None:
        n = 0
        while not conn.closed_event.wait(interval):
            n += 1
            # never an empty payload: slack_sdk's frame reader blocks on frames of <= 2 bytes
            try:
                conn.send(conn.OP_PING, f"standin-ping:{n}".encode("ascii"))
            except (OSError, ConnectionError):
                return

    def _socket_loop(self, conn: _WsConnection) -> None:
        fragments: list[bytes] = []
        while True:
            frame = _read_ws_frame(conn.rfile)
            if frame is None:
                return
            opcode, fin, data = frame
            if opcode == conn.OP_CLOSE:
                code = data[:2] if len(data) >= 2 else struct.pack("!H", 1000)
                conn.close(struct.unpack("!H", code)[0])
                return
            if opcode == conn.OP_PING:
                conn.pings += 1
                conn.send(conn.OP_PONG, data)
            elif opcode == conn.OP_PONG:
                conn.pongs += 1
            elif opcode in (conn.OP_TEXT, conn.OP_CONT):
                fragments.append(data)
                if fin:
                    self._on_socket_text(b"".join(fragments).decode("utf-8"))
                    fragments = []

    def _on_socket_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = {"_raw": text}
        if not isinstance(message, dict):
            message = {"_raw": text}
        with self._cond:
            if "envelope_id" in message:
                self._socket_acks.append(message)
            else:
                self._socket_messages.append(message)
            self._cond.notify_all()

    def wait_for_socket_client(self, timeout: float = 10.0) -> None:
        """Block until a Socket Mode client is connected."""
        self._socket_connection(timeout)

    def socket_connection_count(self) -> int:
        with self._lock:
            return len(self._sockets)

    def _socket_connection(self, timeout: float) -> _WsConnection:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._sockets:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode client connected within {timeout}s")
                self._cond.wait(remaining)
            return self._sockets[-1]

    def socket_send(
        self,
        type: str,
        payload: dict[str, Any],
        accepts_response_payload: bool = True,
        *,
        timeout: float = 10.0,
    ) -> str:
        """Send an envelope to the newest connected client (waiting for one); returns its id."""
        envelope_id = str(uuid.uuid4())
        conn = self._socket_connection(timeout)
        conn.send_json(
            {
                "envelope_id": envelope_id,
                "type": type,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
            }
        )
        return envelope_id

    def socket_disconnect(
        self, reason: str = "refresh_requested", *, timeout: float = 10.0
    ) -> None:
        """Send Slack's ``disconnect`` message; slack_sdk clients then reconnect to a new URL."""
        conn = self._socket_connection(timeout)
        conn.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-standin"}}
        )

    @property
    def socket_acks(self) -> list[dict[str, Any]]:
        """Acknowledgements (messages with ``envelope_id``) received from the app, in order."""
        with self._lock:
            return copy.deepcopy(self._socket_acks)

    def wait_for_socket_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ack in self._socket_acks:
                    if ack.get("envelope_id") == envelope_id:
                        return copy.deepcopy(ack)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no ack for envelope {envelope_id} within {timeout}s; "
                        f"acks: {self._socket_acks}, other messages: {self._socket_messages}"
                    )
                self._cond.wait(remaining)
