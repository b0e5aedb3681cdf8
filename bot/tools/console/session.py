"""The console's session: read a line, send it to the bot as Slack would, show what the bot
says back, as it arrives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum
from functools import partial
from typing import Any, TextIO

from bot.tools.console.forms import ask_inputs, confirmed, label_of
from bot.tools.console.terminal import Terminal
from bot.tools.console.typed import COMMAND, HELP, QUIT, split_options
from bot.tools.console_view import Button, Modal, Transcript, Where, plain, printable
from bot.tools.localbot import SLACK_ACK_DEADLINE_S, Answer, LocalBot
from bot.tools.signing import block_actions_payload, channel_name_for, view_submission_payload

DEFAULT_USER = "U0CONSOLE"
DEFAULT_CHANNEL = "C0CONSOLE"
# How long a line's work may take before the prompt comes back anyway (later output still
# shows up as it arrives).
SETTLE_TIMEOUT_S = 30.0
# Quiet time after the last call to Slack before a command counts as answered.
QUIET_S = 0.15


class _Next(Enum):
    CONTINUE = 1
    QUIT = 2


class Console:
    """The read-send-show loop over a running :class:`LocalBot`."""

    def __init__(
        self,
        local: LocalBot,
        *,
        stdin: TextIO,
        stdout: TextIO,
        user: str = DEFAULT_USER,
        channel: str = DEFAULT_CHANNEL,
        settle_timeout: float = SETTLE_TIMEOUT_S,
    ) -> None:
        self._local = local
        self._slack = local.slack
        self._user = user
        self._channel = channel
        self._settle_timeout = settle_timeout
        self._lock = threading.RLock()
        self._term = Terminal(stdin, stdout, self._lock)
        self._view = Transcript(
            me=lambda: self._user, bot_name=local.slack.bot_user_name, terminal=self._term.tty
        )
        # A console shows what happens from its start on (a shared local Slack may have a past).
        self._seen = len(self._slack.calls)
        self._last_activity = time.monotonic()
        self._modals_done = 0
        self._stop = threading.Event()

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, banner: str = "") -> int:
        self._term.edit_lines()
        follower = threading.Thread(target=self._follow, name="console-follow", daemon=True)
        follower.start()
        if banner:
            self._term.say(banner)
        try:
            self._settle(self._settle_timeout)  # whatever the bot said already comes first
            while self._turn() is _Next.CONTINUE:
                pass
        except KeyboardInterrupt:
            self._term.say("")
        finally:
            # Piped input ends at once: let the last command's answer arrive before leaving.
            self._settle(self._settle_timeout)
            self._stop.set()
            follower.join(timeout=2)
        return 0

    def _turn(self) -> _Next:
        """Read a line, send it, and wait for the bot's answer."""
        try:
            line = self._term.read(self._prompt())
            if line is None or self._handle(line.strip()) is _Next.QUIT:
                return _Next.QUIT
            self._settle(self._settle_timeout)
            self._fill_new_modals()
        except KeyboardInterrupt:
            if not self._term.tty:
                raise
            # As in a shell: Ctrl-C drops what is being typed or waited for (the terminal
            # echoes the ^C itself); Ctrl-D leaves.
            self._term.say("")
        return _Next.CONTINUE

    def _handle(self, line: str) -> _Next:
        if not line or line.startswith("#"):
            return _Next.CONTINUE
        if line.lower() in QUIT:
            return _Next.QUIT
        if line in ("?", ":help", "--help"):
            self._term.say(HELP)
            return _Next.CONTINUE
        options, rest = split_options(line)
        if options is None:
            self._term.say(rest)  # what was wrong with the options
            return _Next.CONTINUE
        if not rest:
            self._switch(options)
            return _Next.CONTINUE
        user = options.get("as", self._user)
        channel = options.get("in", self._channel)
        if rest.isascii() and rest.isdigit():
            self._click(int(rest), user=user)
            return _Next.CONTINUE
        if rest.startswith("/"):
            word, _, text = rest.partition(" ")
            if word != COMMAND:
                self._term.say(
                    f"This bot has only the {COMMAND} command; Slack would not send it {word}."
                )
                return _Next.CONTINUE
        else:
            text = rest  # "list dev" means "/airflow list dev"
        self._command(text.strip(), user=user, channel=channel)
        return _Next.CONTINUE

    def _switch(self, options: dict[str, str]) -> None:
        self._user = options.get("as", self._user)
        self._channel = options.get("in", self._channel)
        self._term.say(
            f"You are {self._user} in #{channel_name_for(self._channel)} ({self._channel})."
        )

    # -- what the user does -----------------------------------------------------------------

    def _command(self, text: str, *, user: str, channel: str) -> None:
        response_url = self._slack.new_response_url(channel=channel)
        with self._lock:
            self._view.response_urls[response_url] = (user, Where(channel, ""))
        self._last_activity = time.monotonic()
        answer = self._send(
            partial(
                self._local.slash,
                text,
                user=user,
                channel=channel,
                response_url=response_url,
                console=True,
            )
        )
        if answer is None:
            return
        if answer.status != 200:
            self._term.say(
                f"(the bot answered HTTP {answer.status}; Slack would show you an error) "
                f"{printable(answer.body[:300])}"
            )
            return
        ts = f"{time.time():.6f}"
        with self._lock:
            lines = self._view.ack(answer.json(), channel=channel, user=user, ts=ts)
        if lines:
            self._term.say("\n".join(lines))

    def _click(self, number: int, *, user: str) -> None:
        with self._lock:
            button = self._view.buttons.get(number)
        if button is None:
            last = max(self._view.buttons, default=0)
            known = f"buttons so far are [1] to [{last}]" if last else "no buttons were shown yet"
            self._term.say(f"There is no button [{number}]: {known}.")
            return
        if not button.where.channel:
            self._term.say(
                "Buttons inside a form cannot be clicked here; answer the form's fields."
            )
            return
        if button.confirm and not confirmed(self._term, button.confirm):
            self._term.say("Not confirmed: nothing was sent.")
            return
        where = button.where
        message: dict[str, Any] | None = None
        if not where.ephemeral:
            try:
                message = self._slack.message(where.channel, where.message_ts)
            except KeyError:
                self._term.say(f"The message with button [{number}] was deleted.")
                return
        response_url = self._slack.new_response_url(
            channel=where.channel, message_ts=None if where.ephemeral else where.message_ts
        )
        with self._lock:
            self._view.response_urls[response_url] = (user, where)
        payload = self._block_actions(button, user=user, message=message, response_url=response_url)
        opens = f"; Slack would open {printable(button.url)}" if button.url else ""
        self._term.say(f"(you clicked [{number}] {button.label}{opens})")
        self._last_activity = time.monotonic()
        answer = self._send(partial(self._local.interact, payload, console=True))
        if answer is not None and answer.status == 404:
            action = printable(button.action_id)
            self._term.say(f"(nothing in the bot handles button `{action}`: HTTP 404)")
        elif answer is not None and answer.status != 200:
            self._term.say(f"(the bot answered the click with HTTP {answer.status})")

    def _block_actions(
        self, button: Button, *, user: str, message: dict[str, Any] | None, response_url: str
    ) -> dict[str, Any]:
        slack = self._slack
        where = button.where
        payload = block_actions_payload(
            message_ts=where.message_ts,
            action_id=button.action_id,
            value=button.value or "",
            response_url=response_url,
            user_id=user,
            channel_id=where.channel,
            thread_ts=where.thread_ts,
            block_id=button.block_id,
            team_id=slack.team_id,
            team_domain=slack.team_domain,
            api_app_id=slack.app_id,
            message=message,
            ephemeral=where.ephemeral,
            button_text=button.label,
            bot_user_id=slack.bot_user_id,
            bot_id=slack.bot_id,
        )
        action = payload["actions"][0]
        if button.value is None:
            del action["value"]  # Slack sends no value for a button that has none (links)
        if button.url:
            action["url"] = button.url
        return payload

    # -- modals -----------------------------------------------------------------------------

    def _fill_new_modals(self) -> None:
        while True:
            with self._lock:
                pending = self._view.modals[self._modals_done :]
            if not pending:
                return
            self._modals_done += 1
            modal = pending[0]
            if modal.user == self._user:
                self._fill(modal)

    def _fill(self, modal: Modal) -> None:
        view = modal.view
        self._term.say(
            f"Fill in “{plain(view.get('title'))}”: Enter keeps [the value shown], . cancels."
        )
        previous: dict[str, str] = {}
        for _attempt in range(5):
            values = ask_inputs(self._term, view, previous)
            if values is None:
                self._term.say("Form closed: nothing was sent.")
                return
            payload = view_submission_payload(
                callback_id=str(view.get("callback_id", "")),
                values=values,
                user_id=modal.user,
                private_metadata=str(view.get("private_metadata", "")),
                view_id=str(view.get("id", "")),
                blocks=view.get("blocks") or [],
                title=plain(view.get("title")),
                team_id=self._slack.team_id,
                team_domain=self._slack.team_domain,
                api_app_id=self._slack.app_id,
                bot_id=self._slack.bot_id,
            )
            self._last_activity = time.monotonic()
            answer = self._send(partial(self._local.interact, payload, console=True))
            if answer is None or answer.status != 200:
                status = "no answer" if answer is None else f"HTTP {answer.status}"
                self._term.say(f"(the bot did not take the form: {status})")
                return
            body = answer.json()
            if body.get("response_action") != "errors":
                self._settle(self._settle_timeout)
                return
            for block_id, error in (body.get("errors") or {}).items():
                self._term.say(f"⚠ {label_of(view, block_id)}: {printable(str(error))}")
            previous = {k: v for k, v in previous.items() if k not in (body.get("errors") or {})}
        self._term.say("Giving up on this form after five tries.")

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, request: Callable[[], Answer]) -> Answer | None:
        try:
            answer = request()
        except OSError as exc:  # requests' errors are OSErrors too
            self._term.say(f"(could not reach the bot: {type(exc).__name__})")
            return None
        if answer.seconds > SLACK_ACK_DEADLINE_S:
            self._term.say(
                f"(the bot took {answer.seconds:.1f} s to answer; Slack gives up after "
                f"{SLACK_ACK_DEADLINE_S:.0f} s and shows the user an error)"
            )
        return answer

    def _follow(self) -> None:
        """Show every call the bot makes to Slack, as it arrives, in order."""
        while not self._stop.is_set():
            calls = self._slack.calls_since(self._seen, timeout=0.1)
            for call in calls:
                with self._lock:
                    lines = self._view.render(call)
                    self._seen += 1
                    self._last_activity = time.monotonic()
                if lines:
                    self._term.say("\n".join(lines))

    def _settle(self, timeout: float) -> None:
        """Wait until the bot is idle and has said everything (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self._last_activity >= QUIET_S
            caught_up = self._seen >= len(self._slack.calls)
            if quiet and caught_up and not self._local.busy:
                return
            time.sleep(0.02)

    def _prompt(self) -> str:
        return f"{self._user} in #{channel_name_for(self._channel)}> "
