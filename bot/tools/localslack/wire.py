"""What the stand-in answers over HTTP: a reply (or none at all), and Slack's error answers.

Also how a request's parameters read: as text, and JSON carried as text in a form field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_JSON_CT = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    status: int  # DROP: no answer at all, the connection is closed
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to hold the answer before writing it, outside the stand-in's lock."""


DROP = 0


class SlackError(Exception):
    """A Web API error answer: HTTP 200 with ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra or {}


def json_reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, json.dumps(body).encode("utf-8"), {"Content-Type": _JSON_CT, **(headers or {})}
    )


def text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode("utf-8"), {"Content-Type": "text/html"})


def as_text(value: Any) -> str:
    """A parameter as text (form values are text already; JSON ones may be numbers)."""
    return "" if value is None else str(value)


def as_bool(value: Any) -> bool:
    """A boolean parameter: slack_sdk sends ``"1"``/``"0"`` in forms and queries, JSON ``true``."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return value is True or value == 1


def decode_json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
