"""Faults to inject: Slack's error answers, rate limits, 5xx and dropped connections.

They are queued per method (``"response_url"`` for response URLs) and consumed in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from bot.tools.localslack.state import StandinState
from bot.tools.localslack.wire import DROP, Reply, json_reply, text_reply


@dataclass(frozen=True)
class Fault:
    kind: Literal["fail", "ratelimit", "server_error", "disconnect"]
    error: str = ""
    retry_after: int = 1
    status: int = 500


class Faults(StandinState):
    """Queuing faults, and the answer each one gives in place of the real one."""

    def _queue(self, method: str, fault: Fault, times: int) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend([fault] * times)

    def fail_next(self, method: str, error: str = "not_in_channel", times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 200 ``{"ok": false, "error": error}``.

        For ``"response_url"`` the answer is HTTP 404 with ``error`` as the body.
        """
        self._queue(method, Fault("fail", error=error), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP 429 with ``Retry-After: retry_after`` and
        ``{"ok": false, "error": "ratelimited"}``, as Slack does."""
        self._queue(method, Fault("ratelimit", error="ratelimited", retry_after=retry_after), times)

    def server_error_next(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP ``status`` with an HTML body, like Slack's 5xx."""
        self._queue(method, Fault("server_error", status=status), times)

    def disconnect_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls get no answer: the connection is closed once the request is
        read, as when the network fails on the way. slack_sdk retries such a call once, so
        ``times=2`` makes one call of the bot fail."""
        self._queue(method, Fault("disconnect"), times)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    @staticmethod
    def _fault_reply(fault: Fault, *, webhook: bool = False) -> Reply:
        if fault.kind == "ratelimit":
            return json_reply(
                429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            )
        if fault.kind == "disconnect":
            return Reply(DROP, b"")
        if fault.kind == "server_error":
            return text_reply(fault.status, f"<html><body>HTTP {fault.status}</body></html>")
        if webhook:
            return text_reply(404, fault.error)
        return json_reply(200, {"ok": False, "error": fault.error})
