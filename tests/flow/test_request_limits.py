"""``POST /slack/events`` refuses oversized, unsigned and malformed requests cheaply.

The real app (``bot.tools.localbot.LocalBot``: the Bolt app and WSGI application of the ``web``
process, wired to the local Slack stand-in), driven in process through ``bot.serve.wsgi.wsgi_app``
with WSGI environs, so a test can see whether the body was read at all and how much memory
the answer cost.
"""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
from urllib.parse import urlencode

import pytest

from bot.config.settings import DEFAULT_MAX_REQUEST_BYTES, SettingsError, load_settings
from bot.core.json_depth import too_deep
from bot.serve import gunicorn_conf
from bot.serve.request_limits import MAX_JSON_DEPTH, discard_body, too_large
from bot.serve.wsgi import WsgiApp
from bot.tools.localbot import LocalBot
from bot.tools.signing import sign, slash_command_body
from testkit.raw_requests import call, environ

MiB = 1024 * 1024


def bogus_signature(body: bytes) -> dict[str, str]:
    return sign("not-the-secret", body)


def nested(depth: int) -> bytes:
    return urlencode({"payload": "[" * depth + "]" * depth}).encode()


# ---------------------------------------------------------------------------- size


def test_a_body_over_the_limit_is_refused_413_without_being_read(app: WsgiApp) -> None:
    body = b"payload=" + b"[{}," * (5 * MiB // 4) + b"{}]"
    env = environ(body, bogus_signature(body))
    tracemalloc.start()
    try:
        status, _ = call(app, env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert env["wsgi.input"].read_before_answer == 0
    # Then thrown away as it came, so a client sending it all before reading gets the answer.
    assert env["wsgi.input"].bytes_read == len(body)
    assert peak < MiB


def test_what_is_thrown_away_after_a_refusal_is_bounded() -> None:
    body = b"a" * (3 * 64 * 1024)
    env = environ(body)
    assert discard_body(env, max_bytes=64 * 1024) == 64 * 1024
    assert discard_body(env, max_seconds=0) == 0
    assert discard_body(env) == 2 * 64 * 1024
    assert too_large(None, MiB) and too_large("chunked", MiB) and too_large(str(MiB + 1), MiB)
    assert not too_large(str(MiB), MiB)


def test_a_body_without_content_length_is_refused_413_unread(app: WsgiApp, local: LocalBot) -> None:
    body = slash_command_body(text="help", response_url="http://127.0.0.1:1/r")
    env = environ(body, sign(local._secret, body), content_length=None)
    status, _ = call(app, env)
    assert status == 413
    assert env["wsgi.input"].read_before_answer == 0


def test_the_limit_is_a_setting_with_a_default_of_one_mib() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert load_settings(base, dotenv_path=None).max_request_bytes == DEFAULT_MAX_REQUEST_BYTES
    assert MiB == DEFAULT_MAX_REQUEST_BYTES
    chosen = load_settings({**base, "MAX_REQUEST_BYTES": "200000"}, dotenv_path=None)
    assert chosen.max_request_bytes == 200_000
    with pytest.raises(SettingsError, match="MAX_REQUEST_BYTES"):
        load_settings({**base, "MAX_REQUEST_BYTES": "1"}, dotenv_path=None)


# ---------------------------------------------------------------------------- signature


def test_an_unsigned_body_is_refused_401_before_it_is_parsed(app: WsgiApp) -> None:
    # 600 KB of `{},`: Bolt parsed all 200,000 dicts (tens of MB) before checking the signature.
    body = b"payload=" + b"[" + b"{}," * 200_000 + b"{}]"
    tracemalloc.start()
    try:
        status, _ = call(app, environ(body, bogus_signature(body)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 401
    assert peak < 3 * len(body)


def test_missing_or_stale_signatures_are_refused_401_unread(app: WsgiApp, local: LocalBot) -> None:
    body = slash_command_body(text="help", response_url="http://127.0.0.1:1/r")
    stale = sign(local._secret, body, timestamp=int(time.time()) - 6 * 60)
    for headers in ({"Content-Type": "application/x-www-form-urlencoded"}, stale):
        env = environ(body, headers)
        status, _ = call(app, env)
        assert status == 401
        assert env["wsgi.input"].read_before_answer == 0


def test_a_deeply_nested_unsigned_payload_is_401_not_500(app: WsgiApp) -> None:
    body = nested(100_000)
    assert call(app, environ(body, bogus_signature(body)))[0] == 401


def test_a_signed_command_is_still_answered(app: WsgiApp, local: LocalBot) -> None:
    before = len(local.slack.calls_to("response_url"))
    body = slash_command_body(
        text="help",
        response_url=local.slack.new_response_url(),
        team_id=local.slack.team_id,
        api_app_id=local.slack.app_id,
    )
    status, _ = call(app, environ(body, sign(local._secret, body)))
    assert status == 200
    local.slack.wait_for("response_url", count=before + 1)


# ---------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "body",
    [
        nested(100_000),  # RecursionError in Bolt's parse: a 500
        nested(MAX_JSON_DEPTH + 1),
        b"payload=%7Bnot+json",
        b"payload=%5B1%2C2%5D",  # JSON, but not an object
        b"payload=1",
        b'{"team": 5, "type": "block_actions"}',
        b"text=\xff\xfe",  # not UTF-8
        b'{"truncated": [1, 2',
    ],
    ids=[
        "very-deep",
        "just-too-deep",
        "not-json",
        "list",
        "number",
        "odd-shape",
        "binary",
        "truncated-json",
    ],
)
def test_a_signed_malformed_body_is_400_never_500(
    app: WsgiApp, local: LocalBot, body: bytes
) -> None:
    status, _ = call(app, environ(body, sign(local._secret, body)))
    assert status == 400


def test_a_body_shorter_than_its_content_length_is_400(app: WsgiApp, local: LocalBot) -> None:
    body = b"text=help"
    env = environ(body, sign(local._secret, body), content_length="100")
    assert call(app, env)[0] == 400


def test_depth_is_counted_outside_strings_only() -> None:
    assert not too_deep('{"a": "[[[[[[[[[[", "b": [[1]]}', 3)
    assert too_deep('{"a": "\\"", "b": [[[1]]]}', 3)
    assert not too_deep("[" * 64 + "]" * 64, 64)
    assert too_deep("[" * 65, 64)


# ---------------------------------------------------------------------------- gunicorn


def test_gunicorn_limits_the_request_line_and_headers() -> None:
    assert 0 < gunicorn_conf.limit_request_line <= 4094
    assert 0 < gunicorn_conf.limit_request_fields <= 100
    assert 0 < gunicorn_conf.limit_request_field_size <= 8190


def test_refusals_are_logged_without_the_body(
    app: WsgiApp, caplog: pytest.LogCaptureFixture
) -> None:
    body = urlencode({"text": "secret-looking-value"}).encode()
    with caplog.at_level(logging.WARNING, logger="bot.serve.wsgi"):
        call(app, environ(body, bogus_signature(body)))
    assert "refused a request: 401" in caplog.text
    assert "secret-looking-value" not in caplog.text
    json.dumps(caplog.text)  # printable
