"""What Slack itself asks a person, here at the terminal: a button's "are you sure?", and a
modal's fields, one after another, checked as Slack checks them before it sends the form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.tools.console.terminal import Terminal
from bot.tools.console_view import plain, printable

_CANCEL = "."


def confirmed(term: Terminal, confirm: dict[str, Any]) -> bool:
    # Slack asks this itself before sending anything: the bot never sees a "no".
    title = plain(confirm.get("title")) or "Are you sure?"
    yes = plain(confirm.get("confirm")) or "Yes"
    no = plain(confirm.get("deny")) or "Cancel"
    term.say(f"┌ {title}\n│ {plain(confirm.get('text'))}\n└ y: {yes} / n: {no}")
    answer = term.read("y/n? ")
    return answer is not None and answer.strip().lower() in ("y", "yes")


def ask_inputs(
    term: Terminal, view: dict[str, Any], previous: dict[str, str]
) -> dict[str, dict[str, dict[str, Any]]] | None:
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for index, block in enumerate(view.get("blocks") or []):
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id = str(block.get("block_id") or f"block{index}")
        action_id = str(element.get("action_id") or f"action{index}")
        while True:
            state = _ask_one(term, block, element, previous.get(block_id))
            if state is None:
                return None
            if isinstance(state, str):
                term.say(state)  # why the answer was not taken; ask again
                continue
            break
        values[block_id] = {action_id: state[0]}
        previous[block_id] = state[1]
    return values


def _ask_one(
    term: Terminal, block: dict[str, Any], element: dict[str, Any], before: str | None
) -> tuple[dict[str, Any], str] | str | None:
    kind = str(element.get("type", "plain_text_input"))
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    label = plain(block.get("label"))
    initial = before if before is not None else _initial(element)
    if options:
        term.say("\n".join(f"  {i}. {plain(o.get('text'))}" for i, o in enumerate(options, 1)))
    shown = f" [{initial}]" if initial else ""
    typed = term.read(f"{label}{' (optional)' if block.get('optional') else ''}{shown}: ")
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


def label_of(view: dict[str, Any], block_id: str) -> str:
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("block_id") == block_id:
            return plain(block.get("label")) or block_id
    return block_id
