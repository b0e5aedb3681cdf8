"""A Web API request from its HTTP body to its answer, and the methods that look things up.

The request's parameters and token are read, the call is recorded, a queued fault or Slack's
token checks may answer instead of the method, and the method answers in Slack's shape.
``chat.*`` is ``messages``'; ``conversations.history`` and ``.replies`` are ``history``'s;
``views.*`` is ``views``'.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import time
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from bot.tools.localslack.faults import Faults
from bot.tools.localslack.history import History
from bot.tools.localslack.state import Call
from bot.tools.localslack.views import Views
from bot.tools.localslack.wire import Reply, SlackError, as_text, decode_json_field, json_reply

# Form fields that slack_sdk (and Slack) carry as JSON text inside a form body.
_JSON_FORM_FIELDS = frozenset({"blocks", "attachments", "view", "metadata", "user_auth_blocks"})
# Methods that take the app-level token (xapp-...); every other method takes the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


class WebApi(Faults, History, Views):
    """The Web API: ``/api/<method>``."""

    @cached_property
    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Web API method -> what answers it (bound once, on the first request)."""
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "apps.connections.open": self._apps_connections_open,
        }

    @staticmethod
    def _parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, values in parse_qs(query, keep_blank_values=True).items():
            params[key] = values[0]
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/json":
            decoded = json.loads(body.decode("utf-8")) if body else {}
            if not isinstance(decoded, dict):
                raise ValueError("a JSON body must be an object")
            params.update(decoded)
        elif body:
            for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                params[key] = values[0]
            for key in _JSON_FORM_FIELDS & params.keys():
                params[key] = decode_json_field(params[key])
        return params

    def _web_api(
        self, method: str, *, query: str, body: bytes, content_type: str, authorization: str | None
    ) -> Reply:
        bad_json = False
        try:
            params = self._parse_params(query, body, content_type)
        except (ValueError, UnicodeDecodeError):
            params, bad_json = {}, True
        # A token in a JSON body is not honoured by Slack: JSON requests need the header.
        form_token = params.pop("token", None)
        token: str | None = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        elif isinstance(form_token, str) and not content_type.lower().startswith(
            "application/json"
        ):
            token = form_token
        # Recording and answering happen under one hold of the lock: whoever wait_for()s this
        # call also sees its effects (a posted message, an edit) in the state.
        with self._cond:
            call = Call(method, copy.deepcopy(params), token, time.monotonic())
            self._record(call)
            reply = self._answer(method, params, token, bad_json=bad_json)
            with contextlib.suppress(ValueError):
                answer = json.loads(reply.body)
                call.result = answer if isinstance(answer, dict) else None
            if token == self.bot_token and reply.status == 200:
                # Slack names the token's scopes on every answer; `python -m bot doctor` reads it.
                reply.headers["x-oauth-scopes"] = ",".join(self.bot_scopes)
            return reply

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None, *, bad_json: bool
    ) -> Reply:
        fault = self._take_fault(method)
        if fault is not None and not fault.carried_out:
            return self._fault_reply(fault)
        reply = self._carry_out(method, params, token, bad_json=bad_json)
        return reply if fault is None else self._after_carrying_out(fault, reply)

    def _carry_out(
        self, method: str, params: dict[str, Any], token: str | None, *, bad_json: bool
    ) -> Reply:
        handler = self._handlers.get(method)
        if handler is None:
            return json_reply(200, {"ok": False, "error": "unknown_method"})
        if not token:
            return json_reply(200, {"ok": False, "error": "not_authed"})
        if token not in (self.bot_token, self.app_token):
            return json_reply(200, {"ok": False, "error": "invalid_auth"})
        if (token == self.app_token) != (method in _APP_TOKEN_METHODS):
            return json_reply(200, {"ok": False, "error": "not_allowed_token_type"})
        if bad_json:
            return json_reply(200, {"ok": False, "error": "invalid_json"})
        try:
            answer = handler(params)
        except SlackError as e:
            return json_reply(200, {"ok": False, "error": e.error, **e.extra})
        return json_reply(200, answer)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_user_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        users = self._usergroups.get(as_text(params.get("usergroup")))
        if users is None:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = as_text(params.get("user"))
        if not re.fullmatch(r"[UW][A-Z0-9]+", user_id):
            raise SlackError("user_not_found")
        is_bot = user_id == self.bot_user_id
        name = (
            self.bot_user_name
            if is_bot
            else (re.sub(r"^[UW]0*", "", user_id).lower() or user_id.lower())
        )
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "deleted": False,
                "real_name": name.title(),
                "tz": "UTC",
                "tz_label": "Coordinated Universal Time",
                "tz_offset": 0,
                "is_admin": False,
                "is_owner": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "profile": {"real_name": name.title(), "display_name": name, "team": self.team_id},
            },
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = as_text(params.get("channel"))
        if not re.fullmatch(r"[CGD][A-Z0-9]+", channel):
            raise SlackError("channel_not_found")
        is_im = channel.startswith("D")
        is_private = channel.startswith("G")
        info: dict[str, Any] = {
            "id": channel,
            "created": self._ts_base,
            "is_archived": False,
            "is_channel": not is_im and not is_private,
            "is_group": is_private,
            "is_im": is_im,
            "is_private": is_private or is_im,
            "is_member": self.member_channels is None or channel in self.member_channels,
        }
        if not is_im:
            name = re.sub(r"^[CG]0*", "", channel).lower() or channel.lower()
            info.update(name=name, name_normalized=name)
        return {"ok": True, "channel": info}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={uuid.uuid4()}"}
