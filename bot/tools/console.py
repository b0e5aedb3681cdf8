"""``python -m bot console``: chat with the real bot in a terminal, without Slack.

Each line typed becomes what Slack would send: ``/airflow list dev`` a signed slash command,
a button's number a signed ``block_actions`` click, a modal's answers a ``view_submission``.
They go over HTTP to the same Bolt app the Procfile serves (``bot.tools.localbot``), and whatever
the bot then sends to Slack (thread, replies, edits, ephemeral answers, buttons, modals) is shown
as it arrives, from the local Slack's record (``bot.tools.console_view``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from bot.serve.startup import StartupError
from bot.tools.console_view import Button, Modal, Transcript, Where, plain, printable
from bot.tools.localbot import SLACK_ACK_DEADLINE_S, Answer, LocalBot
from bot.tools.signing import block_actions_payload, channel_name_for, view_submission_payload

DEFAULT_USER = "U0CONSOLE"
DEFAULT_CHANNEL = "C0CONSOLE"
COMMAND = "/airflow"
# How long a line's work may take before the prompt comes back anyway (later output still
# shows up as it arrives).
SETTLE_TIMEOUT_S = 30.0
# Quiet time after the last call to Slack before a command counts as answered.
QUIET_S = 0.15
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_LEADING_OPTION = re.compile(r"^--(as|in)(?:\s+(\S+))?(?:\s+|$)")
_TRAILING_OPTION = re.compile(r"(?:^|\s+)--(as|in)(?:\s+(\S+))?$")
_QUIT = frozenset({"exit", "quit", ":q", ":quit"})
_CANCEL = "."

HELP = """\
Type what you would type in Slack:
  /airflow list                 a slash command (the /airflow may be left out)
  3                             click button [3]
  /airflow list --as U0123      just this command as user U0123 (or --in C0123: in that channel)
  --as U0123                    from now on, be user U0123 (--in C0123: be in channel C0123)
  ?                             this help
  exit, or Ctrl-D               leave
Replies in a thread are shown with ↳; "only you see this" marks what Slack shows only to you.
Buttons show as [n] label (* primary, ! dangerous); a form (modal) asks for each field in turn."""


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
        self._in = stdin
        self._out = stdout
        self._user = user
        self._channel = channel
        self._settle_timeout = settle_timeout
        # Line editing and history when a person types; a plain transcript when piped.
        self._tty = (
            stdin is sys.stdin and stdout is sys.stdout and stdin.isatty() and stdout.isatty()
        )
        self._view = Transcript(
            me=lambda: self._user, bot_name=local.slack.bot_user_name, terminal=self._tty
        )
        self._lock = threading.RLock()
        # A console shows what happens from its start on (a shared local Slack may have a past).
        self._seen = len(self._slack.calls)
        self._last_activity = time.monotonic()
        self._at_prompt = ""  # the prompt a person is typing after, if any
        self._modals_done = 0
        self._stop = threading.Event()

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, banner: str = "") -> int:
        if self._tty:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 - imported for its side effect: line editing

        follower = threading.Thread(target=self._follow, name="console-follow", daemon=True)
        follower.start()
        if banner:
            self._say(banner)
        try:
            self._settle(self._settle_timeout)  # whatever the bot said already comes first
            while self._turn() is _Next.CONTINUE:
                pass
        except KeyboardInterrupt:
            self._say("")
        finally:
            # Piped input ends at once: let the last command's answer arrive before leaving.
            self._settle(self._settle_timeout)
            self._stop.set()
            follower.join(timeout=2)
        return 0

    def _turn(self) -> _Next:
        """Read a line, send it, and wait for the bot's answer."""
        try:
            line = self._read(self._prompt())
            if line is None or self._handle(line.strip()) is _Next.QUIT:
                return _Next.QUIT
            self._settle(self._settle_timeout)
            self._fill_new_modals()
        except KeyboardInterrupt:
            if not self._tty:
                raise
            # As in a shell: Ctrl-C drops what is being typed or waited for (the terminal
            # echoes the ^C itself); Ctrl-D leaves.
            self._say("")
        return _Next.CONTINUE

    def _handle(self, line: str) -> _Next:
        if not line or line.startswith("#"):
            return _Next.CONTINUE
        if line.lower() in _QUIT:
            return _Next.QUIT
        if line in ("?", ":help", "--help"):
            self._say(HELP)
            return _Next.CONTINUE
        options, rest = _split_options(line)
        if options is None:
            self._say(rest)  # what was wrong with the options
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
                self._say(
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
        self._say(f"You are {self._user} in #{channel_name_for(self._channel)} ({self._channel}).")

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
            self._say(
                f"(the bot answered HTTP {answer.status}; Slack would show you an error) "
                f"{printable(answer.body[:300])}"
            )
            return
        ts = f"{time.time():.6f}"
        with self._lock:
            lines = self._view.ack(answer.json(), channel=channel, user=user, ts=ts)
        if lines:
            self._say("\n".join(lines))

    def _click(self, number: int, *, user: str) -> None:
        with self._lock:
            button = self._view.buttons.get(number)
        if button is None:
            last = max(self._view.buttons, default=0)
            known = f"buttons so far are [1] to [{last}]" if last else "no buttons were shown yet"
            self._say(f"There is no button [{number}]: {known}.")
            return
        if not button.where.channel:
            self._say("Buttons inside a form cannot be clicked here; answer the form's fields.")
            return
        if button.confirm and not self._confirmed(button.confirm):
            self._say("Not confirmed: nothing was sent.")
            return
        where = button.where
        message: dict[str, Any] | None = None
        if not where.ephemeral:
            try:
                message = self._slack.message(where.channel, where.message_ts)
            except KeyError:
                self._say(f"The message with button [{number}] was deleted.")
                return
        response_url = self._slack.new_response_url(
            channel=where.channel, message_ts=None if where.ephemeral else where.message_ts
        )
        with self._lock:
            self._view.response_urls[response_url] = (user, where)
        payload = self._block_actions(button, user=user, message=message, response_url=response_url)
        opens = f"; Slack would open {printable(button.url)}" if button.url else ""
        self._say(f"(you clicked [{number}] {button.label}{opens})")
        self._last_activity = time.monotonic()
        answer = self._send(partial(self._local.interact, payload, console=True))
        if answer is not None and answer.status == 404:
            action = printable(button.action_id)
            self._say(f"(nothing in the bot handles button `{action}`: HTTP 404)")
        elif answer is not None and answer.status != 200:
            self._say(f"(the bot answered the click with HTTP {answer.status})")

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

    def _confirmed(self, confirm: dict[str, Any]) -> bool:
        # Slack asks this itself before sending anything: the bot never sees a "no".
        title = plain(confirm.get("title")) or "Are you sure?"
        yes = plain(confirm.get("confirm")) or "Yes"
        no = plain(confirm.get("deny")) or "Cancel"
        self._say(f"┌ {title}\n│ {plain(confirm.get('text'))}\n└ y: {yes} / n: {no}")
        answer = self._read("y/n? ")
        return answer is not None and answer.strip().lower() in ("y", "yes")

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
        self._say(
            f"Fill in “{plain(view.get('title'))}”: Enter keeps [the value shown], . cancels."
        )
        previous: dict[str, str] = {}
        for _attempt in range(5):
            values = self._ask_inputs(view, previous)
            if values is None:
                self._say("Form closed: nothing was sent.")
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
                self._say(f"(the bot did not take the form: {status})")
                return
            body = answer.json()
            if body.get("response_action") != "errors":
                self._settle(self._settle_timeout)
                return
            for block_id, error in (body.get("errors") or {}).items():
                self._say(f"⚠ {_label_of(view, block_id)}: {printable(str(error))}")
            previous = {k: v for k, v in previous.items() if k not in (body.get("errors") or {})}
        self._say("Giving up on this form after five tries.")

    def _ask_inputs(
        self, view: dict[str, Any], previous: dict[str, str]
    ) -> dict[str, dict[str, dict[str, Any]]] | None:
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for index, block in enumerate(view.get("blocks") or []):
            if not isinstance(block, dict) or block.get("type") != "input":
                continue
            element = block.get("element") or {}
            block_id = str(block.get("block_id") or f"block{index}")
            action_id = str(element.get("action_id") or f"action{index}")
            while True:
                state = self._ask_one(block, element, previous.get(block_id))
                if state is None:
                    return None
                if isinstance(state, str):
                    self._say(state)  # why the answer was not taken; ask again
                    continue
                break
            values[block_id] = {action_id: state[0]}
            previous[block_id] = state[1]
        return values

    def _ask_one(
        self, block: dict[str, Any], element: dict[str, Any], before: str | None
    ) -> tuple[dict[str, Any], str] | str | None:
        kind = str(element.get("type", "plain_text_input"))
        options = [o for o in element.get("options") or [] if isinstance(o, dict)]
        label = plain(block.get("label"))
        initial = before if before is not None else _initial(element)
        if options:
            self._say("\n".join(f"  {i}. {plain(o.get('text'))}" for i, o in enumerate(options, 1)))
        shown = f" [{initial}]" if initial else ""
        typed = self._read(f"{label}{' (optional)' if block.get('optional') else ''}{shown}: ")
        if typed is None or typed.strip() == _CANCEL:
            return None
        raw = typed.strip() or initial
        state: dict[str, Any] = {"type": kind}
        if not raw:
            if not block.get("optional"):
                return f"{label} is required."
            state.update(_empty_state(kind))
            return state, ""
        if options:
            picked = [_pick(options, part) for part in raw.split(",")]
            if any(p is None for p in picked):
                return f"Pick {label} by number (1 to {len(options)})."
            if kind in ("checkboxes", "multi_static_select"):
                state["selected_options"] = picked
            else:
                state["selected_option"] = picked[0]
            return state, ", ".join(plain(o.get("text")) for o in picked if o)
        if kind == "datepicker":
            state["selected_date"] = raw
        elif kind == "timepicker":
            state["selected_time"] = raw
        elif kind == "datetimepicker":
            try:
                state["selected_date_time"] = int(datetime.fromisoformat(raw).timestamp())
            except ValueError:
                return f"{label}: give a date and time like 2024-01-31T12:00+00:00."
        else:
            state["value"] = raw
        return state, raw

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, request: Callable[[], Answer]) -> Answer | None:
        try:
            answer = request()
        except OSError as exc:  # requests' errors are OSErrors too
            self._say(f"(could not reach the bot: {type(exc).__name__})")
            return None
        if answer.seconds > SLACK_ACK_DEADLINE_S:
            self._say(
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
                    self._say("\n".join(lines))

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

    def _read(self, prompt: str) -> str | None:
        """One line, or None at the end of input."""
        if self._tty:
            self._at_prompt = prompt
            try:
                return input(prompt)
            except EOFError:
                self._at_prompt = ""
                self._say("")
                return None
            finally:
                self._at_prompt = ""
        line = self._in.readline()
        if not line:
            return None
        # Piped input is echoed after its prompt, so the output reads as a transcript.
        self._say(prompt + line.rstrip("\n"))
        return line.rstrip("\n")

    def _say(self, text: str) -> None:
        with self._lock:
            if self._at_prompt:
                # Output arriving while a person types: clear the prompt line, print, and
                # put back the prompt with what was typed so far.
                self._out.write("\r\x1b[K" + text + "\n" + self._at_prompt + _line_buffer())
            else:
                self._out.write(text + "\n")
            self._out.flush()


def _split_options(line: str) -> tuple[dict[str, str] | None, str]:
    """``--as U1`` / ``--in C1`` at the start or end of a line; (None, why) when malformed."""
    options: dict[str, str] = {}
    rest = line
    for pattern in (_LEADING_OPTION, _TRAILING_OPTION):
        while match := pattern.search(rest):
            name, value = match.group(1), match.group(2)
            problem = _option_problem(name, value)
            if problem:
                return None, problem
            assert value is not None
            options[name] = value
            rest = (rest[: match.start()] + rest[match.end() :]).strip()
    return options, rest


def _option_problem(name: str, value: str | None) -> str:
    if name == "as" and not (value and _USER_ID.fullmatch(value)):
        return "--as needs a Slack user ID, like --as U012ABCDEF."
    if name == "in" and not (value and _CHANNEL_ID.fullmatch(value)):
        return "--in needs a Slack channel ID, like --in C0123ABCD."
    return ""


def _initial(element: dict[str, Any]) -> str:
    for key in ("initial_value", "initial_date", "initial_time"):
        if element.get(key):
            return printable(str(element[key]))
    if isinstance(element.get("initial_option"), dict):
        return plain(element["initial_option"].get("text"))
    if element.get("initial_date_time"):
        return datetime.fromtimestamp(int(element["initial_date_time"])).astimezone().isoformat()
    return ""


def _empty_state(kind: str) -> dict[str, Any]:
    if kind in ("static_select", "radio_buttons"):
        return {"selected_option": None}
    if kind in ("checkboxes", "multi_static_select"):
        return {"selected_options": []}
    key = {
        "datepicker": "selected_date",
        "timepicker": "selected_time",
        "datetimepicker": "selected_date_time",
    }
    return {key.get(kind, "value"): None}


def _pick(options: list[dict[str, Any]], typed: str) -> dict[str, Any] | None:
    typed = typed.strip()
    if typed.isdigit() and 1 <= int(typed) <= len(options):
        return options[int(typed) - 1]
    for option in options:
        if typed in (plain(option.get("text")), str(option.get("value"))):
            return option
    return None


def _label_of(view: dict[str, Any], block_id: str) -> str:
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("block_id") == block_id:
            return plain(block.get("label")) or block_id
    return block_id


def _line_buffer() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()


def banner(local: LocalBot, *, user: str, channel: str, log_path: Path | None) -> str:
    deployments = ", ".join(f"{name} ({dep.url})" for name, dep in local.config.deployments.items())
    lines = [
        "The real bot, with a stand-in for Slack on this machine: nothing is sent to Slack.",
        f"Deployments: {deployments or 'none configured'}",
        f"You are {user} in #{channel_name_for(channel)} ({channel}). Try /airflow help; "
        "? shows what else you can type; Ctrl-D leaves.",
    ]
    if log_path is not None:
        lines.append(f"The bot's log: {log_path}")
    return "\n".join(lines)


def run_console(
    env: Mapping[str, str],
    *,
    user: str = DEFAULT_USER,
    channel: str = DEFAULT_CHANNEL,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    log_path: Path | None = None,
    intro: str = "",
) -> int:
    """Start the bot on a local Slack and chat with it until the input ends.

    ``intro`` follows the banner: suggestions of what to type, say.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    problem = _option_problem("as", user) or _option_problem("in", channel)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="chatops-console-")) / "bot.log"
    _log_to(log_path)
    try:
        local = LocalBot.start(env, configure_logs=True)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    try:
        console = Console(local, stdin=stdin, stdout=stdout, user=user, channel=channel)
        return console.run(
            banner=banner(local, user=user, channel=channel, log_path=log_path) + intro
        )
    finally:
        local.close()


def _log_to(path: Path) -> None:
    # The bot's log lines would break up the conversation: they go to a file instead.
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
