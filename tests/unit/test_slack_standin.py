"""Tests of the Slack stand-in and the signing helpers, driven by the real slack_sdk / Bolt."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from bot.tools.localslack import Call, SlackStandin
from bot.tools.signing import (
    block_actions_body,
    block_actions_payload,
    post_signed,
    sign,
    slash_command_body,
    slash_command_fields,
    view_submission_body,
)

BOT = "xoxb-test-token"
APP = "xapp-test-token"
SECRET = "test-signing-secret"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*DAG* `etl`"}}


@pytest.fixture
def standin() -> Iterator[SlackStandin]:
    with SlackStandin() as s:
        yield s


@pytest.fixture
def client(standin: SlackStandin) -> WebClient:
    return WebClient(base_url=standin.api_url, token=BOT)


def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


# ----------------------------------------------------------------------------- basics


def test_api_url_is_local_with_trailing_slash(standin: SlackStandin) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", standin.api_url)
    assert standin.port > 0


def test_auth_test_answers_like_slack(client: WebClient, standin: SlackStandin) -> None:
    r = client.auth_test()
    assert r.status_code == 200
    assert r.data == {
        "ok": True,
        "url": "https://test-team.slack.com/",
        "team": "Test Team",
        "user": "airflow-bot",
        "team_id": "T0TEST",
        "user_id": "U0BOT",
        "bot_id": "B0BOT",
        "is_enterprise_install": False,
    }
    (call,) = standin.calls_to("auth.test")
    assert call.token == BOT
    assert BOT not in repr(call)


def test_missing_and_wrong_tokens_are_not_authed_and_invalid_auth(standin: SlackStandin) -> None:
    e = error_of(WebClient(base_url=standin.api_url).auth_test)
    assert (e.response.status_code, e.response["error"]) == (200, "not_authed")
    e = error_of(WebClient(base_url=standin.api_url, token="xoxb-wrong").auth_test)
    assert (e.response.status_code, e.response["error"]) == (200, "invalid_auth")
    # both recorded, with the token that was used
    assert [c.token for c in standin.calls_to("auth.test")] == [None, "xoxb-wrong"]


def test_token_may_be_a_form_field(standin: SlackStandin) -> None:
    r = requests.post(standin.api_url + "auth.test", data={"token": BOT}, timeout=5)
    assert r.json()["ok"] is True
    assert r.headers["Content-Type"].startswith("application/json")
    assert standin.calls[-1].token == BOT
    assert "token" not in standin.calls[-1].params


def test_app_and_bot_tokens_are_not_interchangeable(standin: SlackStandin) -> None:
    bot_client = WebClient(base_url=standin.api_url)
    e = error_of(lambda: bot_client.apps_connections_open(app_token=BOT))
    assert e.response["error"] == "not_allowed_token_type"
    app_client = WebClient(base_url=standin.api_url, token=APP)
    e = error_of(lambda: app_client.chat_postMessage(channel="C1", text="x"))
    assert e.response["error"] == "not_allowed_token_type"


def test_unknown_method(client: WebClient, standin: SlackStandin) -> None:
    e = error_of(lambda: client.api_call("chat.postMesage"))
    assert e.response["error"] == "unknown_method"
    assert standin.calls[-1].method == "chat.postMesage"


# ----------------------------------------------------------------------------- chat.*


def test_post_message_with_blocks_is_recorded_and_stored(
    client: WebClient, standin: SlackStandin
) -> None:
    r = client.chat_postMessage(channel="C0GENERAL", text="etl triggered", blocks=[SECTION])
    assert r["ok"] is True and r["channel"] == "C0GENERAL"
    assert re.fullmatch(r"\d{10}\.\d{6}", r["ts"])
    assert r["message"]["ts"] == r["ts"] and r["message"]["user"] == "U0BOT"
    assert r["message"]["bot_id"] == "B0BOT" and r["message"]["blocks"] == [SECTION]
    (call,) = standin.calls_to("chat.postMessage")
    assert call.params == {"channel": "C0GENERAL", "text": "etl triggered", "blocks": [SECTION]}
    assert standin.message("C0GENERAL", r["ts"])["text"] == "etl triggered"
    assert [m["ts"] for m in standin.messages["C0GENERAL"]] == [r["ts"]]


def test_form_encoded_blocks_are_decoded(client: WebClient, standin: SlackStandin) -> None:
    client.api_call(
        "chat.postMessage",
        params={
            "channel": "C1",
            "text": "t",
            "blocks": json.dumps([SECTION]),
            "unfurl_links": False,
        },
    )
    params = standin.calls_to("chat.postMessage")[0].params
    assert params["blocks"] == [SECTION]
    assert params["unfurl_links"] == "0"  # slack_sdk sends form booleans as "1"/"0"


def test_ts_are_unique_and_increasing(client: WebClient) -> None:
    ts = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(5)]
    assert len(set(ts)) == 5
    assert [float(t) for t in ts] == sorted(float(t) for t in ts)
    assert ts == sorted(ts)


def test_post_message_errors(client: WebClient, standin: SlackStandin) -> None:
    e = error_of(lambda: client.chat_postMessage(channel="", text="x"))
    assert e.response["error"] == "channel_not_found"
    with pytest.warns(UserWarning, match="`text` argument is missing"):
        e = error_of(lambda: client.chat_postMessage(channel="C1"))
    assert e.response["error"] == "no_text"
    e = error_of(lambda: client.chat_postMessage(channel="C1", text="x" * 40001))
    assert e.response["error"] == "msg_too_long"
    assert len(standin.calls_to("chat.postMessage")) == 3  # failed calls are recorded too
    assert standin.messages == {}


def button(action_id: str = "go", value: str = "v") -> dict[str, Any]:
    text = {"type": "plain_text", "text": "Go"}
    return {"type": "button", "text": text, "action_id": action_id, "value": value}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def text_block(kind: str, text: str) -> dict[str, Any]:
    text_type = "mrkdwn" if kind == "section" else "plain_text"
    return {"type": kind, "text": {"type": text_type, "text": text}}


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([SECTION] * 51, "/blocks"),
        ([text_block("section", "x" * 3001)], "/blocks/0/text/text"),
        ([text_block("header", "x" * 151)], "/blocks/0/text/text"),
        ([actions(button(value="v" * 2001))], "/blocks/0/elements/0/value"),
        ([actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id"),
        ([actions(*(button(action_id=f"b{i}") for i in range(26)))], "/blocks/0/elements"),
        ([{"text": "no type"}], "/blocks/0"),
    ],
)
def test_block_kit_limits_give_invalid_blocks(
    client: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    e = error_of(lambda: client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert e.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in err for err in e.response["errors"])


def test_not_in_channel_when_bot_is_not_a_member() -> None:
    with SlackStandin(member_channels={"C0GENERAL"}) as s:
        c = WebClient(base_url=s.api_url, token=BOT)
        ts = c.chat_postMessage(channel="C0GENERAL", text="ok")["ts"]
        e = error_of(lambda: c.chat_postMessage(channel="C0PRIVATE", text="x"))
        assert e.response["error"] == "not_in_channel"
        assert c.conversations_info(channel="C0PRIVATE")["channel"]["is_member"] is False
        s.member_channels = set()  # the bot was removed from the channel
        e = error_of(lambda: c.chat_update(channel="C0GENERAL", ts=ts, text="y"))
        assert e.response["error"] == "not_in_channel"


def test_thread_replies_and_parent_reply_count(client: WebClient, standin: SlackStandin) -> None:
    parent = client.chat_postMessage(channel="C1", text="triggering etl")["ts"]
    other = client.chat_postMessage(channel="C1", text="unrelated")["ts"]
    r1 = client.chat_postMessage(channel="C1", text="queued", thread_ts=parent)
    r2 = client.chat_postMessage(channel="C1", text="running", thread_ts=parent)
    assert r1["message"]["thread_ts"] == parent and r1["message"]["parent_user_id"] == "U0BOT"
    assert [m["text"] for m in standin.thread("C1", parent)] == ["queued", "running"]
    assert standin.thread("C1", other) == []
    assert standin.message("C1", parent)["reply_count"] == 2
    assert standin.message("C1", parent)["latest_reply"] == r2["ts"]
    assert "thread_ts" not in standin.message("C1", parent)


def test_chat_update_edits_in_place(client: WebClient, standin: SlackStandin) -> None:
    ts = client.chat_postMessage(channel="C1", text="running", blocks=[SECTION])["ts"]
    r = client.chat_update(channel="C1", ts=ts, text="success")
    assert (r["ok"], r["channel"], r["ts"], r["text"]) == (True, "C1", ts, "success")
    msg = standin.message("C1", ts)
    assert msg["text"] == "success" and msg["blocks"] == [SECTION]  # blocks kept when left out
    assert msg["edited"]["user"] == "U0BOT"
    client.chat_update(channel="C1", ts=ts, text="done", blocks=[])
    assert "blocks" not in standin.message("C1", ts)  # an empty array removes them
    assert len(standin.messages["C1"]) == 1
    e = error_of(lambda: client.chat_update(channel="C1", ts="1.000000", text="x"))
    assert e.response["error"] == "message_not_found"


def test_post_ephemeral(client: WebClient, standin: SlackStandin) -> None:
    r = client.chat_postEphemeral(channel="C1", user="U0ALICE", text="only you")
    assert r["ok"] is True and re.fullmatch(r"\d{10}\.\d{6}", r["message_ts"])
    assert standin.calls_to("chat.postEphemeral")[0].params["user"] == "U0ALICE"
    assert standin.messages == {}  # not a channel message


def test_message_lookup_of_unknown_ts_raises(standin: SlackStandin) -> None:
    with pytest.raises(KeyError):
        standin.message("C1", "1.000000")


# ----------------------------------------------------------------------------- reading back

# What the bot's token needs to read channels back, on top of posting.
READ_SCOPES = ("commands", "chat:write", "channels:history", "groups:history")


@pytest.fixture
def reader() -> Iterator[WebClient]:
    """A client of a stand-in whose bot token may read history, as a durable sender's must."""
    with SlackStandin(bot_scopes=READ_SCOPES) as s:
        yield WebClient(base_url=s.api_url, token=BOT)


def outbox(key: str) -> dict[str, Any]:
    return {"event_type": "outbox", "event_payload": {"key": key}}


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


def test_metadata_is_stored_and_read_back_only_with_include_all_metadata(
    reader: WebClient,
) -> None:
    r = reader.chat_postMessage(channel="C1", text="json body", metadata=outbox("a"))
    assert r["message"]["metadata"] == outbox("a")
    # A form body carries it as JSON text, as Slack's docs show it.
    reader.api_call(
        "chat.postMessage",
        params={"channel": "C1", "text": "form body", "metadata": json.dumps(outbox("b"))},
    )
    history = reader.conversations_history(channel="C1")["messages"]
    assert texts(history) == ["form body", "json body"]
    assert all("metadata" not in m for m in history)
    history = reader.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["metadata"] for m in history] == [outbox("b"), outbox("a")]
    replies = reader.conversations_replies(channel="C1", ts=r["ts"], include_all_metadata=True)
    assert replies["messages"][0]["metadata"] == outbox("a")
    assert "metadata" not in reader.conversations_replies(channel="C1", ts=r["ts"])["messages"][0]


def test_metadata_is_kept_in_messages_and_replaced_by_chat_update(standin: SlackStandin) -> None:
    client = WebClient(base_url=standin.api_url, token=BOT)
    ts = client.chat_postMessage(channel="C1", text="queued", metadata=outbox("a"))["ts"]
    assert standin.messages["C1"][0]["metadata"] == outbox("a")
    client.chat_update(channel="C1", ts=ts, text="running")  # left out: kept
    assert standin.message("C1", ts)["metadata"] == outbox("a")
    client.chat_update(channel="C1", ts=ts, text="done", metadata=outbox("b"))
    assert standin.message("C1", ts)["metadata"] == outbox("b")


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("{not json", "invalid_metadata_format"),
        (json.dumps([outbox("a")]), "invalid_metadata_format"),
        ({"event_type": "outbox"}, "invalid_metadata_schema"),
        ({"event_type": "outbox", "event_payload": "key=a"}, "invalid_metadata_schema"),
        ({"event_type": "", "event_payload": {}}, "invalid_metadata_schema"),
    ],
)
def test_malformed_metadata_is_refused(
    client: WebClient, standin: SlackStandin, metadata: Any, error: str
) -> None:
    e = error_of(lambda: client.chat_postMessage(channel="C1", text="x", metadata=metadata))
    assert e.response["error"] == error
    assert standin.messages == {}


def test_an_event_type_slack_does_not_accept_is_dropped_with_a_warning(
    client: WebClient, standin: SlackStandin
) -> None:
    metadata = {"event_type": "airflow.outbox", "event_payload": {"key": "a"}}  # a period
    r = client.chat_postMessage(channel="C1", text="x", metadata=metadata)
    assert r["ok"] is True and r["warning"] == "invalid_metadata_schema"
    assert "metadata" not in standin.message("C1", r["ts"])


def test_history_is_top_level_newest_first_in_pages(reader: WebClient) -> None:
    posted = [reader.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(5)]
    reader.chat_postMessage(channel="C1", text="a reply", thread_ts=posted[0])
    reader.chat_postMessage(channel="C2", text="elsewhere")
    first = reader.conversations_history(channel="C1", limit=2)
    assert texts(first["messages"]) == ["m4", "m3"]
    assert first["has_more"] is True
    seen, cursor = texts(first["messages"]), first["response_metadata"]["next_cursor"]
    while cursor:
        page = reader.conversations_history(channel="C1", limit=2, cursor=cursor)
        seen += texts(page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
    assert seen == ["m4", "m3", "m2", "m1", "m0"]  # the reply is not history; nothing twice
    parent = reader.conversations_history(channel="C1")["messages"][-1]
    assert (parent["thread_ts"], parent["reply_count"]) == (posted[0], 1)


def test_history_oldest_latest_and_inclusive(reader: WebClient) -> None:
    ts = [reader.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(4)]
    assert texts(reader.conversations_history(channel="C1", oldest=ts[1])["messages"]) == [
        "m3",
        "m2",
    ]
    within = reader.conversations_history(channel="C1", oldest=ts[1], latest=ts[3], inclusive=True)
    assert texts(within["messages"]) == ["m3", "m2", "m1"]
    assert texts(reader.conversations_history(channel="C1", latest=ts[1])["messages"]) == ["m0"]
    assert reader.conversations_history(channel="C9")["messages"] == []


def test_history_and_replies_refuse_like_slack() -> None:
    unread = ("commands", "chat:write", "usergroups:read")
    with SlackStandin(bot_scopes=unread, member_channels={"C1"}) as s:
        plain = WebClient(base_url=s.api_url, token=BOT)
        e = error_of(lambda: plain.conversations_history(channel="C1"))
        assert (e.response["error"], e.response["needed"]) == ("missing_scope", "channels:history")
        assert e.response["provided"] == "commands,chat:write,usergroups:read"
        e = error_of(lambda: plain.conversations_replies(channel="D1", ts="1.0"))
        assert (e.response["error"], e.response["needed"]) == ("missing_scope", "im:history")
    with SlackStandin(bot_scopes=READ_SCOPES, member_channels={"C1"}) as s:
        c = WebClient(base_url=s.api_url, token=BOT)
        ts = c.chat_postMessage(channel="C1", text="x")["ts"]
        for call, error in [
            (lambda: c.conversations_history(channel="C0PRIVATE"), "not_in_channel"),
            (lambda: c.conversations_history(channel=""), "channel_not_found"),
            (lambda: c.conversations_history(channel="C1", cursor="nope"), "invalid_cursor"),
            (lambda: c.conversations_history(channel="C1", oldest="soon"), "invalid_ts_oldest"),
            (lambda: c.conversations_history(channel="C1", latest="later"), "invalid_ts_latest"),
            (lambda: c.conversations_replies(channel="C1", ts="1.000000"), "thread_not_found"),
        ]:
            assert error_of(call).response["error"] == error
        assert c.conversations_replies(channel="C1", ts=ts)["messages"][0]["text"] == "x"


def test_replies_are_the_parent_then_replies_oldest_first_in_pages(reader: WebClient) -> None:
    parent = reader.chat_postMessage(channel="C1", text="parent")["ts"]
    for i in range(4):
        reader.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=parent)
    other = reader.chat_postMessage(channel="C1", text="other")["ts"]
    reader.chat_postMessage(channel="C1", text="other's reply", thread_ts=other)
    whole = reader.conversations_replies(channel="C1", ts=parent)
    assert texts(whole["messages"]) == ["parent", "r0", "r1", "r2", "r3"]
    assert whole["has_more"] is False and whole["messages"][0]["thread_ts"] == parent
    first = reader.conversations_replies(channel="C1", ts=parent, limit=3)
    assert texts(first["messages"]) == ["parent", "r0", "r1"] and first["has_more"] is True
    rest = reader.conversations_replies(
        channel="C1", ts=parent, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert texts(rest["messages"]) == ["r2", "r3"] and rest["has_more"] is False
    after_r1 = reader.conversations_replies(
        channel="C1", ts=parent, oldest=whole["messages"][2]["ts"]
    )
    assert texts(after_r1["messages"]) == ["parent", "r2", "r3"]


def test_posts_with_event_and_event_counts_find_duplicates(
    client: WebClient, standin: SlackStandin
) -> None:
    parent = client.chat_postMessage(channel="C1", text="1", metadata=outbox("a"))["ts"]
    client.chat_postMessage(channel="C1", text="2", thread_ts=parent, metadata=outbox("b"))
    client.chat_postMessage(channel="C2", text="3", metadata=outbox("a"))
    client.chat_postMessage(
        channel="C2", text="4", metadata={"event_type": "other", "event_payload": {}}
    )
    client.chat_postMessage(channel="C2", text="5")
    posts = standin.posts_with_event("outbox")
    assert [(m["channel"], m["text"]) for m in posts] == [("C1", "1"), ("C1", "2"), ("C2", "3")]
    assert standin.event_counts("outbox", "key") == {"a": 2, "b": 1}
    assert standin.event_counts("other", "key") == {None: 1}


# ----------------------------------------------------------------------------- other methods


def test_usergroups_users_list(client: WebClient, standin: SlackStandin) -> None:
    standin.set_usergroup("S0OPS", ["U0ALICE", "U0BOB"])
    assert client.usergroups_users_list(usergroup="S0OPS")["users"] == ["U0ALICE", "U0BOB"]
    assert standin.calls_to("usergroups.users.list")[0].params == {"usergroup": "S0OPS"}
    e = error_of(lambda: client.usergroups_users_list(usergroup="S0NOPE"))
    assert e.response["error"] == "no_such_subteam"


def test_views_open_and_update(client: WebClient, standin: SlackStandin) -> None:
    title = {"type": "plain_text", "text": "Trigger"}
    modal = {"type": "modal", "callback_id": "trigger", "title": title, "blocks": [SECTION]}
    view = client.views_open(trigger_id="1.2.abc", view=modal)["view"]
    assert re.fullmatch(r"V\w+", view["id"]) and view["callback_id"] == "trigger"
    assert view["state"] == {"values": {}} and view["hash"]
    updated = client.views_update(
        view_id=view["id"], hash=view["hash"], view={**modal, "blocks": []}
    )
    assert updated["view"]["id"] == view["id"] and updated["view"]["blocks"] == []
    e = error_of(lambda: client.views_update(view_id=view["id"], hash=view["hash"], view=modal))
    assert e.response["error"] == "hash_conflict"  # the hash changed with the update
    e = error_of(lambda: client.views_update(view_id="V0NOPE", view=modal))
    assert e.response["error"] == "not_found"
    e = error_of(lambda: client.views_open(trigger_id="", view=modal))
    assert e.response["error"] == "invalid_arguments"
    assert standin.views[view["id"]]["blocks"] == []


def test_users_info_and_conversations_info(client: WebClient) -> None:
    user = client.users_info(user="U0ALICE")["user"]
    assert (user["id"], user["name"], user["tz"], user["is_bot"]) == (
        "U0ALICE",
        "alice",
        "UTC",
        False,
    )
    assert client.users_info(user="U0BOT")["user"]["is_bot"] is True
    assert error_of(lambda: client.users_info(user="nobody")).response["error"] == "user_not_found"
    chan = client.conversations_info(channel="C0GENERAL")["channel"]
    assert (chan["id"], chan["name"], chan["is_member"], chan["is_private"]) == (
        "C0GENERAL", "general", True, False,
    )  # fmt: skip
    assert client.conversations_info(channel="D0ALICE")["channel"]["is_im"] is True


# ----------------------------------------------------------------------------- faults


def test_fail_next_is_consumed_in_order(client: WebClient, standin: SlackStandin) -> None:
    standin.fail_next("chat.postMessage", "channel_not_found")
    standin.fail_next("chat.postMessage", "is_archived", times=2)
    errors = []
    for _ in range(3):
        errors.append(
            error_of(lambda: client.chat_postMessage(channel="C1", text="x")).response["error"]
        )
    assert errors == ["channel_not_found", "is_archived", "is_archived"]
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert client.auth_test()["ok"] is True  # faults are per method
    assert len(standin.calls_to("chat.postMessage")) == 4


def test_rate_limit_without_retry_handler_raises_with_retry_after(
    client: WebClient, standin: SlackStandin
) -> None:
    standin.rate_limit_next("chat.postMessage", retry_after=7)
    e = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert e.response.status_code == 429
    assert e.response["error"] == "ratelimited"
    assert e.response.headers["Retry-After"] == "7"
    assert len(standin.calls_to("chat.postMessage")) == 1  # the default client does not retry


def test_rate_limit_retry_handler_waits_retry_after_then_succeeds(standin: SlackStandin) -> None:
    client = WebClient(
        base_url=standin.api_url,
        token=BOT,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    standin.rate_limit_next("chat.postMessage", retry_after=1)
    r = client.chat_postMessage(channel="C1", text="x")
    assert r["ok"] is True
    first, second = standin.calls_to("chat.postMessage")
    assert second.at - first.at >= 1.0  # slept Retry-After (+ up to 1 s of jitter)
    assert second.params == first.params
    assert len(standin.messages["C1"]) == 1


def test_server_error_is_not_retried_by_default(client: WebClient, standin: SlackStandin) -> None:
    standin.server_error_next("chat.update", status=503)
    e = error_of(lambda: client.chat_update(channel="C1", ts="1.0", text="x"))
    assert e.response.status_code == 503
    assert len(standin.calls_to("chat.update")) == 1


def test_server_error_retry_handler_retries(standin: SlackStandin) -> None:
    handler = ServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = WebClient(base_url=standin.api_url, token=BOT, retry_handlers=[handler])
    standin.server_error_next("auth.test", status=500)
    assert client.auth_test()["ok"] is True
    assert len(standin.calls_to("auth.test")) == 2


# ----------------------------------------------------------------------------- faults over time


def no_retry_client(standin: SlackStandin, timeout: int = 30) -> WebClient:
    """A client that reports the first failure instead of retrying it."""
    return WebClient(base_url=standin.api_url, token=BOT, timeout=timeout, retry_handlers=[])


def test_outage_answers_5xx_to_everything_until_it_is_over(
    client: WebClient, standin: SlackStandin
) -> None:
    url = standin.new_response_url()
    standin.outage(0.5)
    e = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert e.response.status_code == 503 and "<html>" in str(e.response.data)
    assert error_of(client.auth_test).response.status_code == 503
    assert WebhookClient(url).send(text="x").status_code == 503
    assert standin.messages == {}
    time.sleep(0.6)
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert WebhookClient(url).send(text="x").status_code == 200


def test_outage_of_some_methods_and_ended_early(client: WebClient, standin: SlackStandin) -> None:
    standin.outage(60, status=502, methods=["chat.postMessage"])
    assert (
        error_of(lambda: client.chat_postMessage(channel="C1", text="x")).response.status_code
        == 502
    )
    assert client.auth_test()["ok"] is True
    assert WebhookClient(standin.new_response_url()).send(text="x").status_code == 200
    standin.end_outage()
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True


def test_rate_limit_every_third_call(client: WebClient, standin: SlackStandin) -> None:
    standin.rate_limit_every(3, seconds=60, retry_after=2)
    outcomes = []
    for i in range(7):
        try:
            outcomes.append(client.chat_postMessage(channel="C1", text=str(i))["ok"])
        except SlackApiError as e:
            assert e.response["error"] == "ratelimited"
            assert e.response.headers["Retry-After"] == "2"
            outcomes.append(e.response.status_code)
    assert outcomes == [True, True, 429, True, True, 429, True]
    assert texts(standin.messages["C1"]) == ["0", "1", "3", "4", "6"]


def test_rate_limit_every_counts_the_given_methods_together(
    client: WebClient, standin: SlackStandin
) -> None:
    standin.rate_limit_every(2, seconds=60, methods=("chat.postMessage", "chat.update"))
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]  # 1st
    assert client.auth_test()["ok"] is True  # not counted
    assert (
        error_of(lambda: client.chat_update(channel="C1", ts=ts, text="y")).response.status_code
        == 429
    )
    assert client.chat_update(channel="C1", ts=ts, text="z")["ok"] is True  # 3rd
    standin.reset()  # forgets windows too
    assert [client.auth_test()["ok"] for _ in range(2)] == [True, True]


def test_queued_faults_come_before_windows(client: WebClient, standin: SlackStandin) -> None:
    standin.outage(60)
    standin.fail_next("chat.postMessage", "is_archived")
    assert (
        error_of(lambda: client.chat_postMessage(channel="C1", text="x")).response["error"]
        == "is_archived"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel="C1", text="x")).response.status_code
        == 503
    )


def test_accept_then_drop_stores_the_message_and_the_client_gets_no_answer(
    standin: SlackStandin,
) -> None:
    standin.accept_then_drop_next("chat.postMessage")
    client = no_retry_client(standin)
    with pytest.raises((ConnectionError, RemoteDisconnected, URLError)):
        client.chat_postMessage(channel="C1", text="sent once", metadata=outbox("a"))
    (stored,) = standin.messages["C1"]
    assert stored["text"] == "sent once"
    (call,) = standin.calls_to("chat.postMessage")
    assert call.result is not None and call.result["ts"] == stored["ts"]  # what Slack did
    assert client.chat_postMessage(channel="C1", text="next")["ok"] is True  # once only


def test_the_default_client_retries_a_dropped_answer_and_posts_twice(
    client: WebClient, standin: SlackStandin
) -> None:
    standin.accept_then_drop_next("chat.postMessage")
    assert client.chat_postMessage(channel="C1", text="x", metadata=outbox("a"))["ok"] is True
    assert standin.event_counts("outbox", "key") == {"a": 2}  # the duplicate to guard against


def test_accept_then_hang_times_out_a_short_client_but_the_message_is_stored(
    standin: SlackStandin,
) -> None:
    standin.accept_then_hang_next("chat.postMessage", seconds=2)
    impatient = WebClient(base_url=standin.api_url, token=BOT, timeout=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="slow")
    assert time.monotonic() - started < 1.9
    assert texts(standin.messages["C1"]) == ["slow"]
    # Other calls are answered meanwhile: the held answer does not hold the stand-in.
    assert impatient.chat_postMessage(channel="C1", text="quick")["ok"] is True
    assert len(standin.calls_to("chat.postMessage")) == 2


def test_accept_then_hang_answers_a_patient_client_late(standin: SlackStandin) -> None:
    standin.accept_then_hang_next("auth.test", seconds=0.3)
    started = time.monotonic()
    assert no_retry_client(standin).auth_test()["ok"] is True
    assert time.monotonic() - started >= 0.3


# ----------------------------------------------------------------------------- waiting, reset


def test_wait_for_blocks_until_the_call_arrives(client: WebClient, standin: SlackStandin) -> None:
    def later() -> None:
        time.sleep(0.1)
        client.chat_postMessage(channel="C1", text="first")
        client.chat_postMessage(channel="C1", text="second")

    t = threading.Thread(target=later)
    t.start()
    started = time.monotonic()
    calls = standin.wait_for("chat.postMessage", where=lambda c: c.params["text"] == "second")
    assert time.monotonic() - started < 5
    assert [c.params["text"] for c in calls] == ["second"]
    t.join()


def test_a_call_seen_by_wait_for_has_already_taken_effect(
    client: WebClient, standin: SlackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = standin._record

    def slow_record(call: Call) -> None:
        record(call)
        time.sleep(0.05)  # widen the window between recording the call and storing the message

    monkeypatch.setattr(standin, "_record", slow_record)
    t = threading.Thread(target=lambda: client.chat_postMessage(channel="C1", text="x"))
    t.start()
    standin.wait_for("chat.postMessage")
    assert [m["text"] for m in standin.messages.get("C1", [])] == ["x"]
    t.join()


def test_wait_for_timeout_lists_what_was_recorded(client: WebClient, standin: SlackStandin) -> None:
    client.chat_postMessage(channel="C1", text="hello there")
    with pytest.raises(
        AssertionError, match=r"(?s)chat\.update.*found 0.*chat\.postMessage.*hello there"
    ):
        standin.wait_for("chat.update", timeout=0.1)
    with pytest.raises(AssertionError, match="found 1"):
        standin.wait_for("chat.postMessage", count=2, timeout=0.1)


def test_reset_forgets_calls_faults_and_messages(client: WebClient, standin: SlackStandin) -> None:
    standin.set_usergroup("S1", ["U1"])
    client.chat_postMessage(channel="C1", text="x")
    standin.fail_next("chat.postMessage")
    standin.reset()
    assert standin.calls == [] and standin.messages == {}
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1"]


def test_calls_snapshot_is_a_copy(client: WebClient, standin: SlackStandin) -> None:
    client.auth_test()
    snapshot = standin.calls
    client.auth_test()
    assert len(snapshot) == 1 and len(standin.calls) == 2
    assert isinstance(snapshot[0], Call)


# ----------------------------------------------------------------------------- response URLs


def test_response_url_records_answers_ok_and_expires_after_five_uses(standin: SlackStandin) -> None:
    url = standin.new_response_url()
    assert url.startswith(f"http://127.0.0.1:{standin.port}/")
    hook = WebhookClient(url)
    for i in range(5):
        r = hook.send(text=f"try {i}", response_type="ephemeral")
        assert (r.status_code, r.body) == (200, "ok")
    r = hook.send(text="sixth")
    assert r.status_code == 404
    calls = standin.calls_to("response_url")
    assert len(calls) == 6
    assert calls[0].params == {"text": "try 0", "response_type": "ephemeral", "_response_url": url}
    assert calls[0].token is None


def test_response_url_unknown_expired_and_faults(standin: SlackStandin) -> None:
    assert WebhookClient(standin.base_url + "/response/nope").send(text="x").status_code == 404
    url = standin.new_response_url()
    standin.expire_response_url(url)
    assert WebhookClient(url).send(text="x").status_code == 404
    url = standin.new_response_url()
    standin.server_error_next("response_url")
    assert WebhookClient(url).send(text="x").status_code == 500
    assert WebhookClient(url).send(text="x").status_code == 200
    assert WebhookClient(url).send_dict({}).status_code == 400  # no text


def test_response_url_tied_to_a_message_replaces_deletes_and_posts(
    client: WebClient, standin: SlackStandin
) -> None:
    ts = client.chat_postMessage(channel="C1", text="Approve?", blocks=[SECTION])["ts"]
    url = standin.new_response_url(channel="C1", message_ts=ts)
    WebhookClient(url).send(text="Approved by <@U0ALICE>", replace_original=True)
    assert standin.message("C1", ts)["text"] == "Approved by <@U0ALICE>"
    assert "blocks" not in standin.message("C1", ts)
    WebhookClient(url).send(text="visible", response_type="in_channel")
    assert [m["text"] for m in standin.messages["C1"]] == ["Approved by <@U0ALICE>", "visible"]
    WebhookClient(url).send_dict({"delete_original": True})
    assert [m["text"] for m in standin.messages["C1"]] == ["visible"]


# ----------------------------------------------------------------------------- signing helpers


def test_signatures_verify_with_slack_sdk() -> None:
    body = slash_command_body(text="trigger etl", response_url="http://x/r")
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    ts = headers["X-Slack-Request-Timestamp"]
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp=ts, body=body)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert not verifier.is_valid_request(body, sign(SECRET, body, timestamp=int(time.time()) - 600))


def test_slash_command_body_has_slacks_fields() -> None:
    body = slash_command_body(text="list", channel_id="G0SECRET", response_url="http://x/r")
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    assert set(fields) >= {
        "team_id", "channel_id", "channel_name", "user_id", "command", "text", "api_app_id",
        "response_url", "trigger_id", "is_enterprise_install",
    }  # fmt: skip
    assert "enterprise_id" not in fields and "thread_ts" not in fields
    assert (fields["channel_name"], fields["user_id"], fields["command"]) == (
        "privategroup", "U0ALICE", "/airflow",
    )  # fmt: skip
    assert (
        slash_command_fields(text="", channel_id="D0X", response_url="u")["channel_name"]
        == "directmessage"
    )


def test_block_actions_body_is_a_payload_form_field() -> None:
    body = block_actions_body(
        user_id="U0BOB", channel_id="C1", message_ts="1.000100", thread_ts="1.000001",
        action_id="approve", value="run-1", block_id="b", response_url="http://x/r", trigger_id="t",
    )  # fmt: skip
    (raw,) = parse_qs(body.decode())["payload"]
    payload = json.loads(raw)
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0BOB"
    assert (
        payload["actions"][0]["action_id"] == "approve"
        and payload["actions"][0]["value"] == "run-1"
    )
    assert payload["actions"][0]["action_ts"]
    assert (
        payload["container"]["message_ts"] == "1.000100"
        and payload["container"]["channel_id"] == "C1"
    )
    assert payload["message"]["ts"] == "1.000100" and payload["message"]["thread_ts"] == "1.000001"
    assert (payload["response_url"], payload["trigger_id"]) == ("http://x/r", "t")
    ephemeral = block_actions_payload(
        message_ts="1.0", action_id="a", value="v", response_url="u", ephemeral=True
    )
    assert "message" not in ephemeral and ephemeral["container"]["is_ephemeral"] is True


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bolt_http(standin: SlackStandin) -> Iterator[tuple[str, App]]:
    """A real Bolt app (HTTP mode, WSGI adapter) whose Web API is the stand-in."""
    app = App(client=WebClient(base_url=standin.api_url, token=BOT), signing_secret=SECRET)
    server: WSGIServer = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietWSGIHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slack/events", app
    finally:
        server.shutdown()
        server.server_close()


def test_bolt_app_handles_signed_requests_against_the_standin(
    standin: SlackStandin, bolt_http: tuple[str, App]
) -> None:
    url, app = bolt_http
    assert standin.calls_to("auth.test")  # Bolt verified its token at construction

    @app.command("/airflow")
    def command(ack: Ack, command: dict[str, Any], say: Say, respond: Respond) -> None:
        ack()
        say(text=f"running {command['text']}")
        respond(text="started")

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(replace_original=True, text=f"approved by {body['user']['id']}")

    @app.view("trigger")
    def submit(ack: Ack, view: dict[str, Any]) -> None:
        ack(response_action="errors", errors={"b": view["state"]["values"]["b"]["conf"]["value"]})

    command_url = standin.new_response_url(channel="C0GENERAL")
    body = slash_command_body(text="etl", response_url=command_url)
    assert post_signed(url, body, SECRET) == (200, "")
    (post,) = standin.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0GENERAL" and post.params["text"] == "running etl"
    assert standin.wait_for("response_url")[0].params["text"] == "started"

    ts = standin.messages["C0GENERAL"][0]["ts"]
    action_url = standin.new_response_url(channel="C0GENERAL", message_ts=ts)
    body = block_actions_body(
        user_id="U0BOB", channel_id="C0GENERAL", message_ts=ts, thread_ts=None, action_id="approve",
        value="v", block_id="b", response_url=action_url, trigger_id="t",
    )  # fmt: skip
    assert post_signed(url, body, SECRET)[0] == 200
    standin.wait_for("response_url", where=lambda c: c.params["_response_url"] == action_url)
    assert standin.message("C0GENERAL", ts)["text"] == "approved by U0BOB"

    values = {"b": {"conf": {"type": "plain_text_input", "value": "bad json"}}}
    status, text = post_signed(
        url, view_submission_body(callback_id="trigger", values=values), SECRET
    )
    assert status == 200 and json.loads(text) == {
        "response_action": "errors",
        "errors": {"b": "bad json"},
    }

    assert post_signed(url, body, "wrong-secret")[0] == 401
    assert post_signed(url, body, SECRET, timestamp=int(time.time()) - 600)[0] == 401


# ----------------------------------------------------------------------------- Socket Mode


def test_socket_mode_client_receives_envelopes_and_its_acks_arrive(standin: SlackStandin) -> None:
    received: list[SocketModeRequest] = []
    message_types: list[str] = []

    def on_request(client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "on it"})
        )

    sm = SocketModeClient(app_token=APP, web_client=WebClient(base_url=standin.api_url))
    sm.socket_mode_request_listeners.append(on_request)
    sm.message_listeners.append(
        lambda _c, message, _raw: message_types.append(str(message["type"]))
    )
    try:
        sm.connect()
        assert sm.is_connected()
        (opened,) = standin.calls_to("apps.connections.open")
        assert opened.token == APP

        payload = slash_command_fields(text="list", response_url=standin.new_response_url())
        envelope_id = standin.socket_send("slash_commands", payload)
        ack = standin.wait_for_socket_ack(envelope_id, timeout=5)
        assert ack == {"envelope_id": envelope_id, "payload": {"text": "on it"}}
        assert message_types[:2] == ["hello", "slash_commands"]
        (req,) = received
        assert (req.type, req.payload, req.accepts_response_payload) == (
            "slash_commands",
            payload,
            True,
        )

        # the client pings on connect; the stand-in's pong must reach it (else it goes stale)
        deadline = time.monotonic() + 3
        while sm.current_session is not None and sm.current_session.last_ping_pong_time is None:
            assert time.monotonic() < deadline, "no pong reached the client"
            time.sleep(0.02)

        # Slack's "disconnect" makes the client fetch a new URL and reconnect
        standin.socket_disconnect()
        standin.wait_for("apps.connections.open", count=2, timeout=5)
        deadline = time.monotonic() + 5
        while not (sm.is_connected() and standin.socket_connection_count() == 1):
            assert time.monotonic() < deadline, "the client did not reconnect"
            time.sleep(0.02)
        big = {"type": "block_actions", "padding": "x" * 70000}  # a 64-bit length frame
        envelope_id = standin.socket_send("interactive", big)
        assert standin.wait_for_socket_ack(envelope_id, timeout=5)["envelope_id"] == envelope_id
        assert received[-1].payload == big
    finally:
        sm.close()


def test_socket_send_without_a_client_fails_fast(standin: SlackStandin) -> None:
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        standin.socket_send("slash_commands", {}, timeout=0.05)


def test_bolt_socket_mode_handler_against_the_standin(standin: SlackStandin) -> None:
    app = App(client=WebClient(base_url=standin.api_url, token=BOT))

    @app.command("/airflow")
    def command(ack: Ack, command: dict[str, Any], say: Say) -> None:
        ack(text="working on it")
        say(text=f"running {command['text']}")

    handler = SocketModeHandler(app, app_token=APP)
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        payload = slash_command_fields(text="etl", response_url=standin.new_response_url())
        envelope_id = standin.socket_send("slash_commands", payload)
        ack = standin.wait_for_socket_ack(envelope_id, timeout=5)
        assert ack["payload"] == {"text": "working on it"}
        assert standin.wait_for("chat.postMessage")[0].params["text"] == "running etl"
    finally:
        handler.close()  # type: ignore[no-untyped-call]
