"""Faults to inject: Slack's error answers, rate limits, 5xx, dropped and late answers, outages.

Two kinds, both looked up by method (``"response_url"`` for response URLs):

* queued faults (``fail_next``, ``rate_limit_next``, ``server_error_next``, ``disconnect_next``,
  ``accept_then_drop_next``, ``accept_then_hang_next``) answer the next calls, in order;
* time windows (``outage``, ``rate_limit_every``) answer the calls that arrive while they last.

A queued fault is taken first; windows are asked only when none is queued for the method.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from bot.tools.localslack.state import StandinState
from bot.tools.localslack.wire import DROP, Reply, json_reply, text_reply

# The method name calls to response URLs are recorded and looked up under.
RESPONSE_URL = "response_url"


@dataclass(frozen=True)
class Fault:
    kind: Literal["fail", "ratelimit", "server_error", "disconnect", "accept_drop", "accept_hang"]
    error: str = ""
    retry_after: int = 1
    status: int = 500
    hang: float = 0.0

    @property
    def carried_out(self) -> bool:
        """The call takes effect (a message is stored); only its answer goes wrong."""
        return self.kind in ("accept_drop", "accept_hang")


@dataclass
class FaultWindow:
    """A fault that answers matching calls until ``until`` (``time.monotonic()``)."""

    fault: Fault
    until: float
    methods: frozenset[str] | None
    """None: every Web API method."""
    response_urls: bool
    """Whether posts to response URLs are answered too when ``methods`` is None."""
    every: int = 1
    """1: every matching call; n: the n-th, 2n-th, ... matching call."""
    seen: int = 0

    def covers(self, method: str) -> bool:
        if self.methods is not None:
            return method in self.methods
        return method != RESPONSE_URL or self.response_urls


class Faults(StandinState):
    """Queuing faults and opening fault windows, and the answer each gives."""

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

    def accept_then_drop_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls are carried out (a posted message is stored), then the
        connection is closed with no answer: Slack took the message and the answer was lost.

        slack_sdk's default client retries a closed connection once, so with ``times=1`` it
        posts the message a second time and succeeds: the duplicate a durable sender must avoid.
        """
        self._queue(method, Fault("accept_drop"), times)

    def accept_then_hang_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls are carried out, then their answer is held ``seconds``
        before it is written: a client with a shorter timeout gives up on a call that worked."""
        self._queue(method, Fault("accept_hang", hang=seconds), times)

    def outage(
        self, seconds: float, status: int = 503, methods: Collection[str] | None = None
    ) -> None:
        """For ``seconds`` from now, every call to ``methods`` answers HTTP ``status`` with an
        HTML body, as Slack's 5xx. None: every Web API method, and posts to response URLs."""
        window = FaultWindow(
            Fault("server_error", status=status),
            time.monotonic() + seconds,
            None if methods is None else frozenset(methods),
            response_urls=True,
        )
        with self._lock:
            self._windows.append(window)

    def end_outage(self) -> None:
        """End every outage now (rate limit windows stay)."""
        with self._lock:
            self._windows = [w for w in self._windows if w.fault.kind != "server_error"]

    def rate_limit_every(
        self,
        n: int,
        seconds: float,
        retry_after: int = 1,
        methods: Collection[str] | None = None,
    ) -> None:
        """For ``seconds`` from now, the n-th, 2n-th, ... call to ``methods`` (counted together;
        None: every Web API method) answers HTTP 429 with ``Retry-After: retry_after`` and
        ``{"ok": false, "error": "ratelimited"}``. Calls answered by a queued fault or by an
        earlier window are not counted."""
        if n < 1:
            raise ValueError("n must be at least 1")
        window = FaultWindow(
            Fault("ratelimit", error="ratelimited", retry_after=retry_after),
            time.monotonic() + seconds,
            None if methods is None else frozenset(methods),
            response_urls=False,
            every=n,
        )
        with self._lock:
            self._windows.append(window)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            if queue:
                return queue.popleft()
            now = time.monotonic()
            self._windows = [w for w in self._windows if w.until > now]
            # In the order they were opened: a call one window answers is not counted by later ones.
            for window in self._windows:
                if window.covers(method):
                    window.seen += 1
                    if window.seen % window.every == 0:
                        return window.fault
            return None

    @staticmethod
    def _fault_reply(fault: Fault, *, webhook: bool = False) -> Reply:
        """The answer given in place of the call's (not for faults that carry the call out)."""
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

    @staticmethod
    def _after_carrying_out(fault: Fault, reply: Reply) -> Reply:
        """What reaches the client of a call carried out under ``fault``.

        A dropped answer keeps its body, so the recorded call still says what Slack did."""
        if fault.kind == "accept_drop":
            return dataclasses.replace(reply, status=DROP)
        return dataclasses.replace(reply, delay=fault.hang)
