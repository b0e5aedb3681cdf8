"""Sending one recorded message to Slack, and what came of it: sent, try again (when), or
refused for good.

Each post carries Slack message metadata naming it (``EVENT_TYPE``, its outbox key), so that a
try whose outcome is unknown (a timeout, a connection dropped after the request went out) is
looked up in the thread or channel history before the message is sent again. An update is
simply sent again: the last one wins. An ephemeral message cannot be looked up (Slack keeps no
history of it): after an unknown outcome it is not sent again, so it is never shown twice.
"""

from __future__ import annotations

import http.client
import logging
import socket
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.store.outbox import OutboxRow

log = logging.getLogger(__name__)

EVENT_TYPE = "airflow_chatops_message"  # the metadata event type of every post the bot makes
PLACEHOLDER = "outbox:"  # a message's id until Slack gives it its ts: "outbox:<key>"
# Slack's answers that a later try may not get: its own faults and its rate limit.
PASSING = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
HISTORY_PAGES = 5  # how far back a lookup reads (200 messages a page)


@dataclass(frozen=True)
class Sent:
    ts: str | None


@dataclass(frozen=True)
class Retry:
    error: str
    after: float | None = None  # Slack's Retry-After, when it said
    unknown: bool = False  # the try may have reached Slack


@dataclass(frozen=True)
class Refused:
    error: str  # Slack's own word: channel_not_found, not_in_channel, ...


Outcome = Sent | Retry | Refused
Resolve = Callable[[str], str | None]  # a ts or placeholder -> Slack's ts (None: never sent)


def send(client: WebClient, row: OutboxRow, resolve: Resolve) -> Outcome:
    """One try of ``row``; never raises for what Slack or the network did."""
    try:
        if row.unknown and row.kind == "post":
            looked = _look_up(client, row, resolve)
            if not isinstance(looked, _NotFound):
                return looked
        elif row.unknown and row.kind in ("ephemeral", "respond"):
            log.warning(
                "an ephemeral message to %s may not have arrived (%s): not sent again, "
                "so that it is never shown twice",
                destination(row),
                row.kind,
            )
            return Sent(None)
        return _send(client, row, resolve)
    except SlackApiError as exc:
        outcome = _slack_error(exc)
        if isinstance(outcome, Retry) and row.kind != "post":
            # Only a post can be looked up: an ephemeral message Slack may have shown is sent
            # again rather than never.
            return Retry(outcome.error, after=outcome.after)
        return outcome
    except _Unplaced as exc:
        return Refused(exc.error)
    except NotYet:
        return Retry("waits_for_its_thread")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        return Retry(type(exc).__name__, unknown=_may_have_arrived(exc))


def metadata(row_key: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"id": row_key}}


class NotYet(Exception):
    """The message this one follows is not sent yet (raised by a ``Resolve``): try later."""


class _Unplaced(Exception):
    """The thread or message this one belongs to was never delivered."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _send(client: WebClient, row: OutboxRow, resolve: Resolve) -> Outcome:
    p = row.payload
    if row.kind == "post":
        thread_ts = _placed(p.get("thread_ts"), resolve)
        resp = client.chat_postMessage(
            channel=p["channel"],
            text=p["text"],
            blocks=p.get("blocks") or None,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            metadata=metadata(str(row.key)),
        )
        return Sent(str(resp["ts"]))
    if row.kind == "update":
        ts = str(_placed(p["ts"], resolve))
        extra = {"blocks": p["blocks"]} if "blocks" in p else {}
        client.chat_update(channel=p["channel"], ts=ts, text=p["text"], **extra)
        return Sent(ts)
    if row.kind == "ephemeral":
        client.chat_postEphemeral(
            channel=p["channel"], user=p["user"], text=p["text"], blocks=p.get("blocks") or None
        )
        return Sent(None)
    if row.kind == "respond":
        answer = WebhookClient(p["url"], timeout=client.timeout).send(
            text=p["text"],
            blocks=p.get("blocks") or None,
            response_type="ephemeral",
            replace_original=bool(p.get("replace")),
        )
        if answer.status_code == 200:
            return Sent(None)
        if answer.status_code == 429 or answer.status_code >= 500:
            return Retry(f"http_{answer.status_code}", after=_retry_after(answer.headers))
        return Refused(str(answer.body or answer.status_code)[:64])  # expired_url, used_url, ...
    raise ValueError(f"unknown outbox kind {row.kind!r}")


def _placed(ts: str | None, resolve: Resolve) -> str | None:
    if ts is None or not ts.startswith(PLACEHOLDER):
        return ts
    real = resolve(ts)
    if real is None:
        raise _Unplaced("thread_undelivered")
    return real


class _NotFound:
    """The lookup found no earlier try of the post: it is to be sent."""


def _look_up(client: WebClient, row: OutboxRow, resolve: Resolve) -> Sent | Retry | _NotFound:
    """Whether an earlier try of the post ``row`` reached Slack (Sent, with its ts)."""
    try:
        ts = _history_ts(client, row, resolve)
    except SlackApiError as exc:
        outcome = _slack_error(exc)
        if isinstance(outcome, Retry):
            return Retry(f"lookup_{outcome.error}", after=outcome.after, unknown=True)
        # Not allowed to look (missing_scope: an app installed before the history scopes, a
        # DM): a post twice is better than an answer never given.
        log.warning("could not see whether a post to %s arrived (%s): posting it again; "
                    "give the app the history scopes of manifest.yml", destination(row),
                    outcome.error)  # fmt: skip
        return _NotFound()
    return Sent(ts) if ts is not None else _NotFound()


def _history_ts(client: WebClient, row: OutboxRow, resolve: Resolve) -> str | None:
    """The ts of ``row`` if an earlier try of it reached Slack; None when it did not."""
    p = row.payload
    oldest = f"{row.created_at.timestamp() - 60:.6f}"  # a minute of leeway for clocks
    thread_ts = _placed(p.get("thread_ts"), resolve)
    cursor = None
    for _ in range(HISTORY_PAGES):
        if thread_ts:
            resp = client.conversations_replies(
                channel=p["channel"],
                ts=thread_ts,
                oldest=oldest,
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        else:
            resp = client.conversations_history(
                channel=p["channel"],
                oldest=oldest,
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == EVENT_TYPE and payload.get("id") == row.key:
                return str(message["ts"])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def _slack_error(exc: SlackApiError) -> Retry | Refused:
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status == 429 or error == "ratelimited":
        return Retry("ratelimited", after=_retry_after(exc.response.headers))
    if status >= 500 or error in PASSING:
        # Slack says of its 5xx and internal errors that part of the call may have been done.
        return Retry(error if status < 500 else f"http_{status}", unknown=True)
    return Refused(error)


def _retry_after(headers: Any) -> float | None:
    for name in ("Retry-After", "retry-after"):
        value = (headers or {}).get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _may_have_arrived(exc: BaseException) -> bool:
    """False only when the request certainly never left: no connection was made."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)


def destination(row: OutboxRow) -> str:
    """Where a message goes, for a log line: its channel (a response_url is not logged)."""
    return str(row.payload.get("channel") or "a response_url")
