"""The form of a task waiting for a person that takes more than one click (Airflow 3.1+
``HITLOperator`` with ``multiple`` or ``params``): checkboxes (or a choice) for the options,
and one field per parameter with its description and default, checked by its type as
Airflow's params are, errors beside the field.

Slack hands ``read`` only the submitted values, so each parameter's field says in its block id
what type it takes (``param:<type>:<name>``); a parameter with an ``enum`` is a choice among
those values, so nothing else can be sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.reply import code, escape, section

OPTIONS = "options"
PARAM = "param"
TYPES = ("string", "integer", "number", "boolean", "array", "object")


def build(action: Any, callback_id: str) -> dict[str, Any]:
    """The modal the Answer… button opens (``action``: the button's stored action)."""
    args = action.args
    options = [str(o) for o in args.get("options") or []]
    defaults = {str(d) for d in args.get("defaults") or []}
    subject = str(args.get("subject") or "")
    blocks: list[dict[str, Any]] = [section(f"*{escape(subject)}*\n{code(action.dag_id or '')}")]
    if options:
        blocks.append(_options(options, defaults, multiple=bool(args.get("multiple"))))
    params: Mapping[str, Any] = args.get("params") or {}
    for name, spec in list(params.items())[:40]:
        blocks.append(_param(str(name), spec if isinstance(spec, Mapping) else {"value": spec}))
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": action.id,
        "title": {"type": "plain_text", "text": "Answer a task"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def read(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted answer as the command's conf (``chosen_options``, ``params_input``), or
    the errors to show beside the fields."""
    errors: dict[str, str] = {}
    chosen: list[str] = []
    params: dict[str, Any] = {}
    for block_id, fields in values.items():
        field: dict[str, Any] = next(iter((fields or {}).values()), {}) or {}
        if block_id == OPTIONS:
            picked = field.get("selected_options") or [field.get("selected_option") or {}]
            chosen = [str(o["value"]) for o in picked if o and o.get("value") is not None]
            if not chosen:
                errors[block_id] = "Choose an option."
        elif block_id.startswith(f"{PARAM}:"):
            _, kind, name = block_id.split(":", 2)
            raw = field.get("value")
            if raw is None and field.get("selected_option"):
                raw = field["selected_option"].get("value")
            try:
                params[name] = typed(kind, raw)
            except ValueError as exc:
                errors[block_id] = str(exc)
    if errors:
        return {}, errors
    return {"conf": {"chosen_options": chosen, "params_input": params}}, {}


def typed(kind: str, raw: str | None) -> Any:
    """A field's text as Airflow's param type wants it."""
    text = (raw or "").strip()
    if text == "":
        return None
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("Write a whole number, like 3.") from None
    if kind == "number":
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise ValueError("Write a number, like 2.5.") from None
    if kind == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError("Write true or false.")
    if kind in ("array", "object"):
        example, word = ("[1, 2]", "list") if kind == "array" else ('{"a": 1}', "object")
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError(f"Write JSON, like {example}.") from None
        if not isinstance(value, list if kind == "array" else dict):
            raise ValueError(f"Write a JSON {word}, like {example}.")
        return value
    return text


def _options(options: list[str], defaults: set[str], *, multiple: bool) -> dict[str, Any]:
    choices = [_choice(o) for o in options[:10]]
    initial = [c for c, o in zip(choices, options, strict=False) if o in defaults]
    element: dict[str, Any] = {
        "type": "checkboxes" if multiple else "radio_buttons",
        "action_id": "value",
        "options": choices,
    }
    if initial:
        element["initial_options" if multiple else "initial_option"] = (
            initial if multiple else initial[0]
        )
    label = "Choose one or more" if multiple else "Choose one"
    return {"type": "input", "block_id": OPTIONS, "label": _plain(label), "element": element}


def _param(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    schema = spec.get("schema") or {}
    kinds = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    kind = next((k for k in kinds if k in TYPES), "string")
    value = spec.get("value")
    enum = schema.get("enum") if isinstance(schema, Mapping) else None
    block: dict[str, Any] = {
        "type": "input",
        "block_id": f"{PARAM}:{kind}:{name}"[:255],
        "label": _plain(name),
        "optional": "null" in kinds,
    }
    if spec.get("description"):
        block["hint"] = _plain(str(spec["description"]))
    if isinstance(enum, list) and enum:
        choices = [_choice(_text(v)) for v in enum[:100]]
        element: dict[str, Any] = {"type": "static_select", "action_id": "value",
                                   "options": choices}  # fmt: skip
        if value in enum:
            element["initial_option"] = _choice(_text(value))
    else:
        element = {"type": "plain_text_input", "action_id": "value",
                   "multiline": kind in ("array", "object")}  # fmt: skip
        if value is not None:
            element["initial_value"] = _text(value)[:3000]
    block["element"] = element
    return block


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _choice(value: str) -> dict[str, Any]:
    return {"text": _plain(value[:75]), "value": value[:150]}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text[:2000] or " "}
