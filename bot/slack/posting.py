"""Putting replies into Slack: one parent message per request, everything else in its thread.

Where the bot may not post (a private channel it was not invited to, a DM between people),
everything goes back through the request's ``response_url`` instead, with a hint to invite it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.core.reply import Reply, context

log = logging.getLogger(__name__)

# Slack's answers meaning "this bot cannot write here", as opposed to a fault worth retrying.
CANNOT_POST = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "not_allowed_token_type",
    }
)
INVITE_HINT = (
    "I can't post in this channel, so only you see this. "
    "`/invite` me to get replies in a thread everyone can follow."
)


@dataclass(frozen=True)
class Thread:
    channel: str
    ts: str
    header: str


class CannotPost(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error

    @property
    def needs_invite(self) -> bool:
        return self.error in CANNOT_POST


class Poster:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def open_thread(self, channel: str, header: str) -> Thread:
        """Post the parent message; raise CannotPost where Slack refuses."""
        try:
            resp = self._client.chat_postMessage(channel=channel, text=header, unfurl_links=False)
        except SlackApiError as exc:
            raise CannotPost(str(exc.response.get("error", "unknown_error"))) from None
        return Thread(channel=channel, ts=str(resp["ts"]), header=header)

    def reply(self, thread: Thread, reply: Reply) -> str:
        """Post in the thread; returns the reply's ts (its buttons' message)."""
        resp = self._client.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.ts,  # always the parent's ts: replies to a reply start no new thread
            text=reply.text,
            blocks=reply.blocks or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(resp["ts"])

    def replace(self, channel: str, ts: str, reply: Reply) -> None:
        """Rewrite a message the bot posted: a list's next page, buttons become an outcome."""
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
        self._client.chat_postMessage(channel=channel, text=text, unfurl_links=False)

    def ephemeral(self, channel: str, user: str, reply: Reply) -> None:
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
