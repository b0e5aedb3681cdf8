"""The WebSocket under Socket Mode (RFC 6455), written with the stdlib: handshake, frames,
and one connection to a client. What travels over it is ``socket_mode``'s."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
from io import BufferedIOBase
from typing import Any

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` answering a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + _WS_GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


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


class WsFrameError(Exception):
    pass


def read_ws_frame(rfile: BufferedIOBase) -> tuple[int, bool, bytes] | None:
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
        raise WsFrameError("client frames must be masked (RFC 6455 5.1)")
    mask = _read_exact(rfile, 4)
    data = _read_exact(rfile, length) if length else b""
    if mask is None or data is None:
        return None
    return opcode, fin, _unmask(data, mask)


class WsConnection:
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
