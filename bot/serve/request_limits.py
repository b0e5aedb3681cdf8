"""What a request must be before Bolt reads it: small, signed by Slack, and shallow.

Bolt's WSGI adapter reads the whole body, decodes it and parses its JSON before it checks the
signature: one unsigned 45 MB ``payload=[{},{},...]`` cost 19.6 s of CPU and 3.5 GiB. Here the
cheap checks come first and each refuses before the next costs anything:

1. ``Content-Length`` missing or above the limit: 413, the body is not parsed nor kept;
2. signature headers missing or the timestamp more than 5 minutes off: 401, not parsed either;
3. the body, read up to its length, does not match the signature: 401 (one HMAC-SHA256 pass);
4. what verified is not UTF-8, nests deeper than ``MAX_JSON_DEPTH`` or does not parse: 400.

Only then does Bolt parse it (and check the signature again, as it always does). Socket Mode
frames get the same size and depth limits (bot/serve/socket_mode.py).

A body refused before it was read is still coming: Python's urllib and proxies such as
Heroku's router send the whole body before they read an answer, and a socket closed under them
resets their upload, so they never see the 413 (Heroku logs H18 and serves its own error). The
answer goes out first, with ``Connection: close`` for a body over the limit (gunicorn's
``pre_request``, bot/serve/gunicorn_conf.py), then what is still coming is read and thrown away
(:func:`discard_body`), at most ``DISCARD_MAX_BYTES`` or ``DISCARD_MAX_SECONDS``, 64 KiB at a
time, so memory stays flat; only then is the socket closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest

from bot.config.settings import DEFAULT_MAX_REQUEST_BYTES
from bot.core.json_depth import too_deep

# Slack's payloads nest about a dozen levels (a rich-text list in a block in a message in a
# click); Python's JSON parser gives up with RecursionError near 1,000.
MAX_JSON_DEPTH = 64
MAX_SIGNATURE_AGE_SECONDS = 5 * 60  # as Slack documents and Bolt enforces
_READ_CHUNK = 64 * 1024
# How much of a refused body is read and thrown away after the answer, so the client reads it:
# a 21 MB body takes tens of milliseconds on a fast link. A body bigger than this, or slower,
# is cut off as before (the client may then see a reset instead of the 413).
DISCARD_MAX_BYTES = 64 * 1024 * 1024
DISCARD_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_depth: int = MAX_JSON_DEPTH


class Refused(Exception):
    """The request is answered ``status`` with ``reason`` and goes no further."""

    def __init__(self, status: int, reason: str, *, body_read: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body_read = body_read  # False: the body is still on the socket, unread


def checked_request(
    environ: Mapping[str, Any], *, signing_secret: str | None, limits: Limits
) -> BoltRequest:
    """The Bolt request for a ``POST`` WSGI ``environ``, or :class:`Refused` as early as can be."""
    length = declared_length(environ, limits.max_bytes)
    timestamp = _environ_header(environ, "HTTP_X_SLACK_REQUEST_TIMESTAMP")
    signature = _environ_header(environ, "HTTP_X_SLACK_SIGNATURE")
    if signing_secret is None or not signature or not fresh(timestamp):
        # Over Socket Mode there is no signing secret: nothing that comes over HTTP is Slack.
        raise Refused(401, "missing, stale or invalid signature")
    body = read_body(environ["wsgi.input"], length)
    if not signature_valid(signing_secret, body, timestamp, signature):
        raise Refused(401, "missing, stale or invalid signature", body_read=True)
    headers = WsgiHttpRequest(dict(environ)).get_headers()
    return parsed_request(
        body, query=str(environ.get("QUERY_STRING", "")), headers=headers, limits=limits
    )


def declared_length(environ: Mapping[str, Any], max_bytes: int) -> int:
    """The body's declared length; 413 when there is none (chunked) or it exceeds the limit."""
    value = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise Refused(413, "a Content-Length is required")
    length = int(value)
    if length > max_bytes:
        raise Refused(413, f"larger than {max_bytes} bytes")
    return length


def too_large(content_length: str | None, max_bytes: int) -> bool:
    """Whether a POST with this ``Content-Length`` header is refused 413 by :func:`declared_length`
    (gunicorn's ``pre_request`` asks, to close the connection after the answer)."""
    try:
        declared_length({"CONTENT_LENGTH": content_length or ""}, max_bytes)
    except Refused:
        return True
    return False


def discard_body(
    environ: Mapping[str, Any],
    *,
    max_bytes: int = DISCARD_MAX_BYTES,
    max_seconds: float = DISCARD_MAX_SECONDS,
) -> int:
    """Read what is left of the request body and throw it away; the number of bytes read.

    Stops at the body's end, after ``max_bytes``, or ``max_seconds`` after it started, whichever
    comes first: a client trickling its body cannot hold the thread longer. Under gunicorn the
    socket's own timeout bounds each read; it is put back as it was.
    """
    stream: BinaryIO = environ["wsgi.input"]
    found = environ.get("gunicorn.socket")
    sock = found if isinstance(found, socket.socket) else None
    prior = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + max_seconds
    discarded = 0
    try:
        while discarded < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sock is not None:
                sock.settimeout(remaining)
            try:
                chunk = stream.read(min(_READ_CHUNK, max_bytes - discarded))
            except (OSError, ValueError):  # a timeout, a reset, a malformed chunk: give up
                break
            if not chunk:
                break
            discarded += len(chunk)
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):  # the client went away meanwhile
                sock.settimeout(prior)
    return discarded


def read_body(stream: BinaryIO, length: int) -> bytes:
    """Exactly ``length`` bytes; 400 when the client sent fewer than it declared."""
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            raise Refused(400, "body shorter than its Content-Length")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def fresh(timestamp: str, *, now: float | None = None) -> bool:
    """Whether Slack's request timestamp is within 5 minutes of this machine's clock."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= MAX_SIGNATURE_AGE_SECONDS


def signature_valid(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature: ``v0=`` + HMAC-SHA256(secret, ``v0:{timestamp}:{body}``)."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(b"v0:" + timestamp.encode("ascii") + b":")
    mac.update(body)
    expected = "v0=" + mac.hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


def parsed_request(
    body: bytes, *, query: str, headers: Mapping[str, Any], limits: Limits
) -> BoltRequest:
    """Bolt's request for a verified body; 400 where Bolt's own parsing would fail."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    content_type = str(headers.get("content-type") or "").split(";")[0].strip()
    json_text = _json_part(text, content_type)
    if json_text is not None and too_deep(json_text, limits.max_depth):
        raise Refused(400, f"JSON nested more than {limits.max_depth} deep")
    try:
        # Bolt parses the body (as _json_part expects) and reads ids out of it on construction.
        request = BoltRequest(body=text, query=query, headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        raise Refused(400, "malformed body") from None
    if not isinstance(request.body, dict):
        raise Refused(400, "malformed body")
    return request


def _json_part(text: str, content_type: str) -> str | None:
    """The part of a body Bolt parses as JSON (as ``slack_bolt.request.internals.parse_body``)."""
    if content_type == "application/json" or text.startswith("{"):
        return text
    if "payload" in text:
        return dict(parse_qsl(text, keep_blank_values=True)).get("payload")
    return None


def _environ_header(environ: Mapping[str, Any], key: str) -> str:
    return str(environ.get(key) or "").strip()
