"""What the stand-in holds: its workspace's identity, the record of calls, messages and views.

:class:`StandinState` is the base of every part of :class:`~bot.tools.localslack.SlackStandin`
(faults, Web API methods, response URLs, Socket Mode): they share its one lock and condition.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bot.tools.localslack.websocket import WsConnection

BOT_SCOPES = ("commands", "chat:write", "usergroups:read", "channels:history", "groups:history")
"""The bot token's scopes by default: those manifest.yml asks for."""

if TYPE_CHECKING:
    from bot.tools.localslack.faults import Fault, FaultWindow
    from bot.tools.localslack.response_urls import ResponseUrl


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
    read the call; None for response URLs and non-JSON answers. For a call carried out whose
    answer was then dropped or held (``accept_then_*``), the answer it was going to give."""


class StandinState:
    """The state the parts of the stand-in share. See the package docstring."""

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
        bot_scopes: tuple[str, ...] = BOT_SCOPES,
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
        self._faults: dict[str, deque[Fault]] = {}
        self._windows: list[FaultWindow] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._ts_base = int(time.time())
        self._ts_micros = 0  # the last message's ts, in microseconds
        self._id_count = 0
        self._sockets: list[WsConnection] = []
        self._socket_acks: list[dict[str, Any]] = []
        self._socket_messages: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

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
        """Forget recorded calls, queued faults and fault windows, messages, views and Socket
        Mode acks.

        Configuration (tokens, ``member_channels``, usergroups) and issued response URLs stay.
        """
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._windows.clear()
            self._messages.clear()
            self._views.clear()
            self._socket_acks.clear()
            self._socket_messages.clear()

    # ---------------------------------------------------------------- messages and views

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        with self._lock:
            self._usergroups[usergroup_id] = list(users)

    @property
    def messages(self) -> dict[str, list[dict[str, Any]]]:
        """channel -> messages posted there, in order.

        A deep copy; ``chat.update`` and response URLs edit the stand-in's originals."""
        with self._lock:
            return copy.deepcopy(self._messages)

    def carry_over(self, messages: dict[str, list[dict[str, Any]]]) -> None:
        """Messages posted before this stand-in started (``messages`` of another): the same
        workspace across a restart of the bot, where each test bot has a Slack of its own."""
        with self._lock:
            for channel, found in messages.items():
                self._messages.setdefault(channel, [])[:0] = copy.deepcopy(found)

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
        """As Slack's: the time of posting (which is what ``oldest`` and ``latest`` filter on),
        kept increasing and unique however fast messages come."""
        with self._lock:
            self._ts_micros = max(time.time_ns() // 1000, self._ts_micros + 100)
            return f"{self._ts_micros // 1_000_000}.{self._ts_micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._id_count += 1
            return f"{prefix}0{self._id_count:08d}"
