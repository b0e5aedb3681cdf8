"""Socket Mode: ``hello``, envelopes sent to the app, its acks, pings and ``disconnect``.

The URL ``apps.connections.open`` hands out leads to ``/socket``, where each client gets a
:class:`~bot.tools.localslack.websocket.WsConnection`.
"""

from __future__ import annotations

import copy
import json
import logging
import struct
import threading
import time
import uuid
from typing import Any

from bot.tools.localslack.state import StandinState
from bot.tools.localslack.websocket import WsConnection, WsFrameError, read_ws_frame

_log = logging.getLogger(__name__)


class SocketMode(StandinState):
    """The Socket Mode connections of the app, and what goes over them."""

    def _serve_socket(self, conn: WsConnection) -> None:
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
        except (OSError, WsFrameError) as e:
            _log.debug("Socket Mode connection ended: %s", e)
            conn.close(1002, "protocol error")
        finally:
            conn.close()
            with self._cond:
                if conn in self._sockets:
                    self._sockets.remove(conn)
                self._cond.notify_all()

    @staticmethod
    def _ping_socket(conn: WsConnection, interval: float) -> None:
        n = 0
        while not conn.closed_event.wait(interval):
            n += 1
            # never an empty payload: slack_sdk's frame reader blocks on frames of <= 2 bytes
            try:
                conn.send(conn.OP_PING, f"standin-ping:{n}".encode("ascii"))
            except (OSError, ConnectionError):
                return

    def _socket_loop(self, conn: WsConnection) -> None:
        fragments: list[bytes] = []
        while True:
            frame = read_ws_frame(conn.rfile)
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

    def _socket_connection(self, timeout: float) -> WsConnection:
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
