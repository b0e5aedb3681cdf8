"""The Web API methods that open and update modals: ``views.open``, ``views.update``."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from bot.tools.localslack.blockkit import validate_blocks
from bot.tools.localslack.state import StandinState
from bot.tools.localslack.wire import SlackError, as_text, decode_json_field


def _missing_arg(name: str) -> SlackError:
    return SlackError(
        "invalid_arguments",
        {"response_metadata": {"messages": [f"[ERROR] missing required field: {name}"]}},
    )


class Views(StandinState):
    """Views (modals) opened and updated, kept in :attr:`views`."""

    def _view_object(
        self, view: Any, view_id: str, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError(
                "invalid_arguments",
                {"response_metadata": {"messages": ["[ERROR] invalid view [json-pointer:/view]"]}},
            )
        errors = validate_blocks(view.get("blocks", []))
        if errors:
            raise SlackError(
                "invalid_arguments",
                {"response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]}},
            )
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": as_text(view.get("private_metadata")),
            "callback_id": as_text(view.get("callback_id")),
            "external_id": as_text(view.get("external_id")),
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:20],
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": previous["root_view_id"] if previous else view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = as_text(params.get("trigger_id")) or as_text(params.get("interactivity_pointer"))
        if not trigger:
            raise _missing_arg("trigger_id")
        if params.get("view") is None:
            raise _missing_arg("view")
        view = self._view_object(decode_json_field(params["view"]), self._next_id("V"), None)
        self._views[view["id"]] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = as_text(params.get("view_id")), as_text(params.get("external_id"))
        if not view_id and not external_id:
            raise _missing_arg("view_id")
        if params.get("view") is None:
            raise _missing_arg("view")
        current = self._views.get(view_id) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self._views.values() if v["external_id"] == external_id), None
            )
        if current is None:
            raise SlackError("not_found")
        given_hash = as_text(params.get("hash"))
        if given_hash and given_hash != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._view_object(decode_json_field(params["view"]), current["id"], current)
        self._views[view["id"]] = view
        return {"ok": True, "view": copy.deepcopy(view)}
