"""Putting replies into Slack: one parent message per request, everything else in its thread.

Where the bot may not post (a private channel it was not invited to, a DM between people),
everything goes back through the request's ``response_url`` instead, with a hint to invite it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.core.messenger import Thread, Undelivered
from bot.core.reply import Reply, context

log = logging.getLogger(__name__)

INVITE_HINT = (
    "I can't post in this channel, so only you see this. "
    "`/invite` me to get replies in a thread everyone can follow."
)


@contextmanager
def _undelivered() -> Iterator[None]:
    """Slack's refusal as the core's Undelivered, naming Slack's error."""
    try:
        yield
    except SlackApiError as exc:
        raise Undelivered(str(exc.response.get("error", "unknown_error"))) from None


class Poster:
    """The core's Messenger (bot/core/messenger.py) on Slack's Web API."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def open_thread(self, channel: str, header: str) -> Thread:
        with _undelivered():
            resp = self._client.chat_postMessage(channel=channel, text=header, unfurl_links=False)
        return Thread(channel=channel, ts=str(resp["ts"]), header=header)

    def reply(self, thread: Thread, reply: Reply) -> str:
        """Post in the thread; returns the reply's ts (its buttons' message)."""
        with _undelivered():
            resp = self._client.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.ts,  # always the parent's: replies to a reply start no thread
                text=reply.text,
                blocks=reply.blocks or None,
                unfurl_links=False,
                unfurl_media=False,
            )
        return str(resp["ts"])

    def replace(self, channel: str, ts: str, reply: Reply) -> None:
        """Rewrite a message the bot posted: a list's next page, buttons become an outcome."""
        with _undelivered():
            self._client.chat_update(channel=channel, ts=ts, text=reply.text, blocks=reply.blocks)

    def close(self, thread: Thread, reply: Reply) -> None:
        """Say the outcome on the parent, so the channel reads it without opening the thread."""
        mark = (
            ":hourglass_flowing_sand:"
            if reply.waiting
            else (":white_check_mark:" if reply.ok else ":x:")
        )
        outcome = reply.outcome or ("done" if reply.ok else "failed")
        try:
            self._client.chat_update(
                channel=thread.channel, ts=thread.ts, text=f"{thread.header} {mark} {outcome}"
            )
        except SlackApiError as exc:
            # The answer is in the thread already; a stale summary is worth a log line only.
            log.warning("could not update the parent message: %s", exc.response.get("error"))

    def post(self, channel: str, text: str) -> None:
        with _undelivered():
            self._client.chat_postMessage(channel=channel, text=text, unfurl_links=False)

    def send(self, channel: str, reply: Reply) -> str:
        with _undelivered():
            resp = self._client.chat_postMessage(
                channel=channel,
                text=reply.text,
                blocks=reply.blocks or None,
                unfurl_links=False,
                unfurl_media=False,
            )
        return str(resp["ts"])

    def ephemeral(self, channel: str, user: str, reply: Reply) -> None:
        with _undelivered():
            self._client.chat_postEphemeral(
                channel=channel, user=user, text=reply.text, blocks=reply.blocks or None
            )


def respond(
    response_url: str, reply: Reply, *, invite_hint: bool = False, replace: bool = False
) -> None:
    """Answer through a request's ``response_url`` (5 uses, 30 minutes); ``replace`` rewrites
    the message whose button was clicked instead of adding one."""
    blocks = list(reply.blocks)
    if invite_hint:
        blocks.append(context(INVITE_HINT))
    webhook = WebhookClient(
        response_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    resp = webhook.send(
        text=reply.text,
        blocks=blocks or None,
        response_type="ephemeral",
        replace_original=replace,
    )
    if resp.status_code != 200:
        log.warning("response_url answered %s", resp.status_code)
