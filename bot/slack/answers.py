"""Where an answer goes: the one object per request that decides thread, replace, ephemeral or
``response_url``, so no listener chooses for itself.

A typed command gets a parent message in the channel and everything in its thread; where the
bot may not post there (a private channel it is not in, a DM), everything goes back through the
command's ``response_url``, with a hint to invite it. A click is answered where it was clicked:
in place of the clicked message, in its thread, or to the clicker alone.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from bot.core.context import Context
from bot.core.messenger import Thread, Undelivered
from bot.core.reply import Reply, code
from bot.slack.outbox import SlackMessenger

log = logging.getLogger(__name__)


class Answer(ABC):
    """How the pipeline (bot/slack/pipeline.py) answers one request."""

    @abstractmethod
    def tell(self, reply: Reply) -> None:
        """Only to the asker: denials, usage, busy, private verbs."""

    @abstractmethod
    def thread(self, ctx: Context) -> Thread | None:
        """The thread the conversation goes on in, opened if need be; None: there is none."""

    @abstractmethod
    def show(self, reply: Reply, thread: Thread | None, *, in_place: bool = False) -> None:
        """The answer, where everyone following the request sees it."""

    @abstractmethod
    def close(self, thread: Thread | None, reply: Reply) -> None:
        """The request is done: its parent message may say how it went."""

    def fail(self, reply: Reply, thread: Thread | None) -> None:
        """A failure midway (the store down): where the answer would have gone."""
        self.show(reply, thread)
        self.close(thread, reply)


class CommandAnswer(Answer):
    """For ``/airflow``: a parent message and its thread, else ``response_url``."""

    def __init__(self, messenger: SlackMessenger, *, channel_id: str, response_url: str) -> None:
        self._messenger = messenger
        self._channel = channel_id
        self._url = response_url
        self._invite = False  # the thread could not be opened because the bot is not invited

    def tell(self, reply: Reply) -> None:
        self._messenger.respond(self._url, reply)

    def thread(self, ctx: Context) -> Thread | None:
        try:
            return self._messenger.open_thread(self._channel, parent_header(ctx))
        except Undelivered as exc:
            log.info("cannot post in %s (%s): using response_url", self._channel, exc.error)
            self._invite = exc.needs_invite
            return None

    def show(self, reply: Reply, thread: Thread | None, *, in_place: bool = False) -> None:
        if thread is None:
            self._messenger.respond(self._url, reply, invite_hint=self._invite)
            return
        try:
            self._messenger.reply(thread, reply)
        except Undelivered as exc:
            log.warning("threaded reply failed (%s): using response_url", exc.error)
            self._messenger.respond(self._url, reply)

    def close(self, thread: Thread | None, reply: Reply) -> None:
        if thread is not None:
            self._messenger.close(thread, reply)


class ClickAnswer(Answer):
    """For a button or a form: where it was clicked.

    ``message_ts``: the clicked message (None on an ephemeral one, or a form); ``thread_ts``:
    the thread the button's reply belongs to; ``response_url``: Slack's, when it sent one.
    """

    def __init__(
        self,
        messenger: SlackMessenger,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str | None = None,
        thread_ts: str | None = None,
        response_url: str | None = None,
    ) -> None:
        self._messenger = messenger
        self._user = user_id
        self._channel = channel_id
        self._message = message_ts
        self._thread = thread_ts
        self._url = response_url

    def tell(self, reply: Reply) -> None:
        if self._url:
            self._messenger.respond(self._url, reply)
            return
        try:
            self._messenger.ephemeral(self._channel, self._user, reply)
        except Undelivered as exc:
            log.warning("could not tell %s: %s", self._user, exc.error)

    def thread(self, ctx: Context) -> Thread | None:
        return Thread(self._channel, self._thread, "") if self._thread else None

    def show(self, reply: Reply, thread: Thread | None, *, in_place: bool = False) -> None:
        """In place of the clicked message, or as a new reply in its thread, or privately."""
        try:
            if in_place and self._message:
                self._messenger.replace(self._channel, self._message, reply)
            elif thread is not None:
                self._messenger.reply(thread, reply)
            elif self._url:
                self._messenger.respond(self._url, reply, replace=in_place)
            else:
                self._messenger.ephemeral(self._channel, self._user, reply)
        except Undelivered as exc:
            log.warning("could not answer a click: %s", exc.error)
            if self._url:
                self._messenger.respond(self._url, reply)

    def replace(self, reply: Reply) -> None:
        """In place of the clicked message (a prompt whose buttons are done)."""
        try:
            if self._message:
                self._messenger.replace(self._channel, self._message, reply)
            elif self._url:
                self._messenger.respond(self._url, reply, replace=True)
        except Undelivered as exc:
            log.warning("could not update the clicked message: %s", exc.error)

    def close(self, thread: Thread | None, reply: Reply) -> None:
        """A click has no parent message of its own to update."""

    def fail(self, reply: Reply, thread: Thread | None) -> None:
        self.tell(reply)


def parent_header(ctx: Context) -> str:
    """'@user ran `/airflow ...`', as typed, naming the deployment where it was defaulted."""
    cmd = ctx.command
    header = f"<@{ctx.user_id}> ran {code(f'/airflow {cmd.typed[:300]}')}"
    if cmd.deployment and cmd.deployment not in cmd.typed.split()[1:2]:
        header += f" on {code(cmd.deployment)}"
    return header
