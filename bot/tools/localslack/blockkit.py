"""The Block Kit limits Slack enforces on what the bot posts, worded as Slack's errors."""

from __future__ import annotations

from typing import Any

from bot.tools.localslack.wire import as_text

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
_MAX_BLOCKS = 50
_MAX_SECTION_TEXT = 3000
_MAX_HEADER_TEXT = 150
_MAX_SECTION_FIELDS = 10
_MAX_FIELD_TEXT = 2000
_MAX_ACTIONS_ELEMENTS = 25
_MAX_CONTEXT_ELEMENTS = 10
_MAX_ACTION_ID = 255
_MAX_BLOCK_ID = 255
_MAX_BUTTON_TEXT = 75
_MAX_BUTTON_VALUE = 2000


def _text_of(obj: Any) -> str:
    """The ``text`` of a text object (``{"type": "mrkdwn", "text": ...}``) or ''."""
    if isinstance(obj, dict):
        return as_text(obj.get("text"))
    return ""


def _too_long(limit: int, pointer: str) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _validate_element(el: Any, at: str) -> list[str]:
    errors: list[str] = []
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [f"missing required field: type [json-pointer:{at}/type]"]
    if len(as_text(el.get("action_id"))) > _MAX_ACTION_ID:
        errors.append(_too_long(_MAX_ACTION_ID, f"{at}/action_id"))
    if el["type"] == "button":
        if len(_text_of(el.get("text"))) > _MAX_BUTTON_TEXT:
            errors.append(_too_long(_MAX_BUTTON_TEXT, f"{at}/text/text"))
        if len(as_text(el.get("value"))) > _MAX_BUTTON_VALUE:
            errors.append(_too_long(_MAX_BUTTON_VALUE, f"{at}/value"))
    return errors


def validate_blocks(blocks: Any) -> list[str]:
    """Block Kit limits Slack enforces, as Slack words its ``invalid_blocks`` errors."""
    if not isinstance(blocks, list):
        return ["expected an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > _MAX_BLOCKS:
        errors.append(f"no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{at}]")
            continue
        if len(as_text(block.get("block_id"))) > _MAX_BLOCK_ID:
            errors.append(_too_long(_MAX_BLOCK_ID, f"{at}/block_id"))
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide either text or fields [json-pointer:{at}]")
            if len(_text_of(block.get("text"))) > _MAX_SECTION_TEXT:
                errors.append(_too_long(_MAX_SECTION_TEXT, f"{at}/text/text"))
            fields = block.get("fields") or []
            if len(fields) > _MAX_SECTION_FIELDS:
                errors.append(
                    f"no more than {_MAX_SECTION_FIELDS} items allowed [json-pointer:{at}/fields]"
                )
            for j, f in enumerate(fields):
                if len(_text_of(f)) > _MAX_FIELD_TEXT:
                    errors.append(_too_long(_MAX_FIELD_TEXT, f"{at}/fields/{j}/text"))
            if "accessory" in block:
                errors.extend(_validate_element(block["accessory"], f"{at}/accessory"))
        elif kind == "header":
            if len(_text_of(block.get("text"))) > _MAX_HEADER_TEXT:
                errors.append(_too_long(_MAX_HEADER_TEXT, f"{at}/text/text"))
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"missing required field: elements [json-pointer:{at}]")
                continue
            limit = _MAX_ACTIONS_ELEMENTS if kind == "actions" else _MAX_CONTEXT_ELEMENTS
            if len(elements) > limit:
                errors.append(f"no more than {limit} items allowed [json-pointer:{at}/elements]")
            if kind == "actions":
                for j, el in enumerate(elements):
                    errors.extend(_validate_element(el, f"{at}/elements/{j}"))
    return errors
