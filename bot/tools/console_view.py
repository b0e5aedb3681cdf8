"""Slack messages as terminal text, for ``python -m bot console``.

Turns what the bot sent to the local Slack (messages, thread replies, edits, ephemeral answers,
response-URL posts, modals) into lines a person reads like a chat, and numbers every button so
it can be clicked by typing its number. Pure rendering: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.tools.localslack import Call
from bot.tools.signing import channel_name_for

Block = dict[str, Any]

# The emoji the bot uses, and a few more; any other :code: is shown as typed.
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔",
    "x": "❌",
    "warning": "⚠️",
    "no_entry": "⛔",
    "hourglass": "⏳",
    "hourglass_flowing_sand": "⏳",
    "boom": "💥",
    "rocket": "🚀",
    "pause_button": "⏸",
    "arrow_forward": "▶",
    "double_vertical_bar": "⏸",
    "large_green_circle": "🟢",
    "red_circle": "🔴",
    "large_yellow_circle": "🟡",
    "white_circle": "⚪",
    "large_blue_circle": "🔵",
    "grey_question": "❔",
    "question": "❓",
    "information_source": "ℹ️",
    "lock": "🔒",
    "clock1": "🕐",
    "calendar": "📅",
    "eyes": "👀",
    "tada": "🎉",
    "mag": "🔍",
    "arrows_counterclockwise": "🔄",
    "point_right": "👉",
}
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_SPECIAL = re.compile(r"<([^<>]*)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
# What a terminal would act on rather than show: C0 controls (escape sequences start with ESC;
# a carriage return overwrites the line), DEL and C1 controls. Newlines and tabs stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
THREAD_MARK = "  ↳ "
THREAD_INDENT = "    "
BODY_INDENT = "  "


@dataclass(frozen=True)
class Where:
    """The message a button sits on, as a ``block_actions`` payload must describe it."""

    channel: str
    message_ts: str
    thread_ts: str | None = None
    ephemeral: bool = False


@dataclass(frozen=True)
class Button:
    number: int
    label: str
    action_id: str
    block_id: str
    value: str | None
    url: str | None
    confirm: dict[str, Any] | None
    where: Where


@dataclass(frozen=True)
class Modal:
    """A modal the bot opened (``views.open``): the console asks for its inputs."""

    view: dict[str, Any]
    user: str


@dataclass
class Transcript:
    """Renders calls to the local Slack in order, remembering buttons and opened modals.

    ``me`` says who is typing now, so "only visible to you" is said to the right person.
    """

    me: Callable[[], str]
    bot_name: str = "airflow"
    # A terminal gets bold and italics, and links it can open; a transcript gets plain text.
    terminal: bool = False
    buttons: dict[int, Button] = field(default_factory=dict)
    modals: list[Modal] = field(default_factory=list)
    # response_url -> (who asked, the ephemeral or channel message a click came from)
    response_urls: dict[str, tuple[str, Where | None]] = field(default_factory=dict)
    _next_number: int = 1

    # -- the calls the bot makes ------------------------------------------------------------

    def render(self, call: Call) -> list[str]:
        """Lines for one call to the local Slack; [] for calls a user never sees."""
        result = call.result or {}
        method = call.method
        if method == "response_url":
            return self._response_url(call.params)
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral") and not result.get(
            "ok"
        ):
            return self._refused(method, call.params, result)
        if method == "chat.postMessage":
            return self._message(str(result.get("channel", "")), result["message"], edited=False)
        if method == "chat.update":
            return self._message(str(result.get("channel", "")), result["message"], edited=True)
        if method == "chat.postEphemeral":
            params = call.params
            where = Where(
                channel=str(params.get("channel", "")),
                message_ts=str(result.get("message_ts", "")),
                ephemeral=True,
            )
            return self._ephemeral(where, str(params.get("user", "")), params)
        if method in ("views.open", "views.push") and result.get("ok"):
            view = result["view"]
            self.modals.append(Modal(view=view, user=self.me()))
            return self._modal(view)
        if method == "views.update" and result.get("ok"):
            return self._modal(result["view"], updated=True)
        return []

    def ack(self, body: dict[str, Any], *, channel: str, user: str, ts: str) -> list[str]:
        """The HTTP answer to a slash command or click, which Slack shows only to the asker."""
        if not (body.get("text") or body.get("blocks")):
            return []
        if body.get("response_type") == "in_channel":
            message = {"text": body.get("text", ""), "blocks": body.get("blocks"), "ts": ts}
            return self._message(channel, message, edited=False)
        return self._ephemeral(Where(channel=channel, message_ts=ts, ephemeral=True), user, body)

    # -- message kinds ----------------------------------------------------------------------

    def _message(self, channel: str, message: dict[str, Any], *, edited: bool) -> list[str]:
        ts = str(message.get("ts", ""))
        thread_ts = message.get("thread_ts")
        in_thread = bool(thread_ts) and thread_ts != ts
        where = Where(channel=channel, message_ts=ts, thread_ts=thread_ts or None)
        who = f"{self.bot_name}{' (edited)' if edited else ''}"
        body = self.message_lines(message, where)
        if in_thread:
            return _indent([f"{who}: {body[0]}", *body[1:]], THREAD_MARK, THREAD_INDENT)
        return _indent([f"{who}: {body[0]}", *body[1:]], f"#{_channel(channel)} ", BODY_INDENT)

    def _ephemeral(self, where: Where, user: str, message: dict[str, Any]) -> list[str]:
        audience = "only you see this" if user == self.me() else f"only {user} sees this"
        body = self.message_lines(message, where)
        head = f"#{_channel(where.channel)} {self.bot_name} ({audience}): "
        return _indent([head + body[0], *body[1:]], "", BODY_INDENT)

    def _response_url(self, params: dict[str, Any]) -> list[str]:
        url = str(params.get("_response_url", ""))
        user, source = self.response_urls.get(url, (self.me(), None))
        channel = source.channel if source else ""
        if params.get("delete_original"):
            return [f"#{_channel(channel)} {self.bot_name}: (deleted the message with the buttons)"]
        if params.get("replace_original") and source is not None:
            body = self.message_lines(params, source)
            head = f"#{_channel(channel)} {self.bot_name} (replaced the message): "
            return _indent([head + body[0], *body[1:]], "", BODY_INDENT)
        if params.get("response_type") == "in_channel":
            message = {**params, "ts": "", "thread_ts": params.get("thread_ts")}
            return self._message(channel, message, edited=False)
        where = Where(channel=channel, message_ts=f"ephemeral-{len(self.buttons)}", ephemeral=True)
        return self._ephemeral(where, user, params)

    def _refused(self, method: str, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        # A developer's mistake (too long a text, a malformed block) that real Slack would
        # refuse too: worth seeing here, before anyone meets it in Slack.
        error = printable(str(result.get("error", "unknown_error")))
        details = printable("; ".join(str(e) for e in result.get("errors", []))[:500])
        channel = _channel(str(params.get("channel", "")))
        return [
            f"#{channel} (Slack refused the bot's {method}: {error}"
            + (f": {details}" if details else "")
            + ")"
        ]

    def _modal(self, view: dict[str, Any], *, updated: bool = False) -> list[str]:
        title = plain(view.get("title"))
        where = Where(channel="", message_ts=str(view.get("id", "")), ephemeral=True)
        lines = [f"┌ {title or 'form'}{' (updated)' if updated else ''}"]
        lines += [f"│ {line}" for line in self.blocks_lines(view.get("blocks") or [], where)]
        submit = plain(view.get("submit"))
        lines.append(f"└ {submit or 'Submit'} / {plain(view.get('close')) or 'Cancel'}")
        return lines

    # -- blocks -----------------------------------------------------------------------------

    def _mrkdwn(self, text: str) -> str:
        return mrkdwn(text, terminal=self.terminal)

    def message_lines(self, message: dict[str, Any], where: Where) -> list[str]:
        blocks = message.get("blocks")
        lines = self.blocks_lines(blocks, where) if isinstance(blocks, list) and blocks else []
        if not lines:
            lines = self._mrkdwn(str(message.get("text") or "")).splitlines()
        return lines or [""]

    def blocks_lines(self, blocks: list[Any], where: Where) -> list[str]:
        lines: list[str] = []
        for block in blocks:
            if isinstance(block, dict):
                lines += self._block(block, where)
        return lines

    def _block(self, block: Block, where: Where) -> list[str]:
        kind = block.get("type")
        block_id = str(block.get("block_id", ""))
        if kind == "section":
            lines = self._mrkdwn(_text(block.get("text"))).splitlines()
            for item in block.get("fields") or []:
                lines += self._mrkdwn(_text(item)).splitlines()
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                lines += self._elements([accessory], block_id, where)
            return lines
        if kind == "header":
            return [f"== {plain(block.get('text'))} =="]
        if kind == "context":
            parts = [
                self._mrkdwn(_text(e)) if e.get("type") != "image" else ""
                for e in block.get("elements") or []
                if isinstance(e, dict)
            ]
            return [" · ".join(p for p in parts if p)]
        if kind == "divider":
            return ["─" * 24]
        if kind == "actions":
            return self._elements(block.get("elements") or [], block_id, where)
        if kind == "input":
            label = plain(block.get("label"))
            element = block.get("element") or {}
            hint = plain(block.get("hint"))
            optional = " (optional)" if block.get("optional") else ""
            return [f"{label}{optional}: {_input_shape(element)}" + (f"  ({hint})" if hint else "")]
        if kind == "image":
            return [f"[image: {printable(str(block.get('alt_text', '')))}]"]
        if kind == "rich_text":
            return printable(_rich_text(block)).splitlines()
        return [printable(f"[{kind} block]")]

    def _elements(self, elements: list[Any], block_id: str, where: Where) -> list[str]:
        shown: list[str] = []
        for element in elements:
            if not isinstance(element, dict):
                continue
            if element.get("type") == "button":
                shown.append(self._button(element, block_id, where))
            else:
                kind = printable(str(element.get("type")))
                shown.append(f"({kind}: {plain(element.get('placeholder'))})")
        return ["  ".join(shown)] if shown else []

    def _button(self, element: Block, block_id: str, where: Where) -> str:
        number = self._next_number
        self._next_number += 1
        label = plain(element.get("text"))
        url = element.get("url")
        self.buttons[number] = Button(
            number=number,
            label=label,
            action_id=str(element.get("action_id", "")),
            block_id=block_id,
            value=element.get("value"),
            url=str(url) if url else None,
            confirm=element.get("confirm"),
            where=where,
        )
        style = {"primary": "*", "danger": "!"}.get(str(element.get("style")), "")
        return f"[{number}] {label}{style}" + (f" ↗ {printable(str(url))}" if url else "")


def printable(text: str) -> str:
    """``text`` without the control characters a terminal would obey (colours, cursor moves,
    titles, hyperlinks, a carriage return over the line): Airflow's words, a DAG's description or
    a log line are shown, never run. Newlines and tabs are kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


def plain(obj: Any) -> str:
    """A text object's text (plain or mrkdwn), as terminal text."""
    return mrkdwn(_text(obj))


def mrkdwn(text: str, *, terminal: bool = False) -> str:
    """Slack's markup as terminal text: mentions, links, escapes and emoji.

    Links show their label, as in Slack (a terminal gets them as OSC 8 hyperlinks, which most
    terminals open on click); ``terminal`` also turns *bold* and _italics_ into ANSI styles.
    """

    def special(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or _channel(target[1:]))
        if target.startswith("!subteam^"):
            return label or "@" + target.removeprefix("!subteam^")
        if target.startswith("!"):
            return "@" + (label or target[1:])
        shown = label or target  # unescaped with the rest of the text, below
        return f"\x1b]8;;{target}\x1b\\{shown}\x1b]8;;\x1b\\" if terminal else shown

    # Stripped before our own styles and hyperlinks are added, so that only ours reach the terminal.
    text = _unescape(_SPECIAL.sub(special, printable(text)))
    if terminal:
        # Not inside `code`: a glob like `etl_*` is no markup.
        parts = text.split("`")
        parts[::2] = [_BOLD.sub("\x1b[1m\\1\x1b[22m", p) for p in parts[::2]]
        parts[::2] = [_ITALIC.sub("\x1b[3m\\1\x1b[23m", p) for p in parts[::2]]
        text = "`".join(parts)
    return _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return "" if obj is None else str(obj)


def _channel(channel_id: str) -> str:
    return channel_name_for(channel_id) if channel_id else "?"


def _indent(lines: list[str], first: str, rest: str) -> list[str]:
    return [first + lines[0], *[rest + line for line in lines[1:]]]


def _input_shape(element: dict[str, Any]) -> str:
    kind = element.get("type", "")
    initial = printable(
        str(
            element.get("initial_value")
            or element.get("initial_date")
            or element.get("initial_time")
            or plain((element.get("initial_option") or {}).get("text"))
        )
    )
    if kind in ("static_select", "radio_buttons", "checkboxes"):
        options = " | ".join(plain(o.get("text")) for o in element.get("options") or [])
        return f"one of {options}" + (f" [{initial}]" if initial else "")
    placeholder = plain(element.get("placeholder"))
    return f"[{initial or placeholder or '...'}]"


def _rich_text(block: Block) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            elif node.get("type") == "link":
                parts.append(str(node.get("text") or node.get("url", "")))
            elif node.get("type") == "emoji":
                parts.append(EMOJI.get(str(node.get("name")), f":{node.get('name')}:"))
            elif node.get("type") == "user":
                parts.append(f"@{node.get('user_id')}")
            for value in node.get("elements") or []:
                walk(value)

    walk(block)
    return "".join(parts)
