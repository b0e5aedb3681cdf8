"""Fuzzing ``POST /slack/events``: whatever arrives, never a 5xx and never unbounded memory.

Random sizes (up to three times the limit), content types, text encodings, JSON nesting
depths, declared lengths and signatures (valid, wrong, stale, missing), sent in process to
the real app (``bot.tools.localbot.LocalBot``) with ``MAX_REQUEST_BYTES`` at its 64 KiB minimum.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.serve.wsgi import WsgiApp
from bot.tools.localbot import LocalBot
from bot.tools.signing import sign
from testkit.raw_requests import call, environ

LIMIT = 64 * 1024
LOCAL_ENV = {"MAX_REQUEST_BYTES": str(LIMIT)}  # the local bot's (tests/flow/conftest.py)
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=utf-16",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
    "\u00e9/\u00e9",
]
ENCODINGS = ["utf-8", "utf-16", "latin-1", "utf-32"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["form", "payload", "json", "nested", "binary", "big"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    if kind == "form":
        fields = draw(st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=8))
        return urlencode(fields).encode(encoding, "replace")
    if kind == "payload":
        return urlencode({"payload": json.dumps(draw(json_values))}).encode(encoding)
    if kind == "json":
        return json.dumps(draw(json_values)).encode(encoding)
    if kind == "nested":
        depth = draw(st.integers(0, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{", "}"), ('{"a":', "}")]))
        text = opener * depth + draw(st.sampled_from(["", "1", "[]"])) + closer * depth
        text = text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text
        if draw(st.booleans()):
            return urlencode({"payload": text}).encode()
        return ("payload=" + text if draw(st.booleans()) else text).encode()
    if kind == "binary":
        return draw(st.binary(max_size=4000))
    size = draw(st.integers(LIMIT - 100, 3 * LIMIT))
    head = draw(st.sampled_from([b"payload=[", b"text=", b"{", b"payload=%7B"]))
    return (head + draw(st.sampled_from([b"{},", b"[", b"a"])) * size)[:size]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    body=bodies(),
    content_type=st.sampled_from(CONTENT_TYPES),
    signature=st.sampled_from(["valid", "wrong", "stale", "future", "missing", "garbage"]),
    length=st.sampled_from(["true", "true", "missing", "larger", "smaller", "garbage"]),
)
def test_no_request_gets_a_5xx_or_unbounded_memory(
    app: WsgiApp, local: LocalBot, body: bytes, content_type: str, signature: str, length: str
) -> None:
    headers = _headers(local, body, signature)
    if content_type:
        headers["Content-Type"] = content_type
    else:
        headers.pop("Content-Type", None)
    declared = {
        "true": "",
        "missing": None,
        "larger": str(len(body) + 10),
        "smaller": str(max(len(body) - 10, 0)),
        "garbage": "12x",
    }[length]
    env = environ(body, headers, content_length=declared)
    # tracemalloc counts every thread: let the work of earlier examples (answers being posted
    # to the Slack stand-in) finish first, so the peak is this request's.
    deadline = time.monotonic() + 10
    while local.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    tracemalloc.start()
    try:
        status, _ = call(app, env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status < 500
    read: Any = env["wsgi.input"]
    # What was read before the answer; a refused body is thrown away after it, unkept.
    before = read.bytes_read if read.read_before_answer is None else read.read_before_answer
    assert before <= LIMIT
    if status in (401, 413):
        assert peak < 2 * LIMIT + 256 * 1024  # refused: at most the body read, nothing parsed
    # A body that verified may be parsed: Bolt's dicts cost a few dozen times its bytes (and
    # the bot's background threads allocate a little meanwhile).
    assert peak < 64 * LIMIT


def _headers(local: LocalBot, body: bytes, signature: str) -> dict[str, str]:
    now = int(time.time())
    if signature == "valid":
        return sign(local._secret, body)
    if signature == "wrong":
        return sign("not-the-secret", body)
    if signature == "stale":
        return sign(local._secret, body, timestamp=now - 301)
    if signature == "future":
        return sign(local._secret, body, timestamp=now + 10**9)
    if signature == "garbage":
        return {"X-Slack-Signature": "v0=\u00e9" * 3, "X-Slack-Request-Timestamp": "-1e9"}
    return {}
