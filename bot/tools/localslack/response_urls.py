"""Response URLs: handed out by :meth:`new_response_url`, posted to at ``/response/<id>``.

A post replaces, deletes or adds a message as Slack's would, within Slack's limits.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bot.tools.localslack.faults import RESPONSE_URL, Faults
from bot.tools.localslack.messages import Messages
from bot.tools.localslack.state import Call
from bot.tools.localslack.wire import Reply, as_text, text_reply

RESPONSE_URL_MAX_USES = 5
"""Slack accepts up to 5 posts to one response_url (within 30 minutes)."""


@dataclass
class ResponseUrl:
    url: str
    channel: str | None
    message_ts: str | None
    uses: int = 0
    expired: bool = False


class ResponseUrls(Faults, Messages):
    """The response URLs issued, and what posts to them do."""

    def new_response_url(self, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL on this server.

        Posts to it are recorded as ``Call("response_url", params=<json body> + "_response_url")``
        and answered ``200 ok``; after 5 uses it answers 404 ``expired_url``. Give ``channel``
        (and ``message_ts`` for a message's buttons) to make ``replace_original`` /
        ``delete_original`` / ``response_type: in_channel`` change :attr:`messages`.
        """
        rid = uuid.uuid4().hex
        url = f"{self.base_url}/response/{rid}"
        with self._lock:
            self._response_urls[rid] = ResponseUrl(url, channel, message_ts)
        return url

    def response_url_uses(self, url: str) -> int:
        """How many posts to ``url`` were carried out (a fault answered in their place: not)."""
        with self._lock:
            return sum(s.uses for s in self._response_urls.values() if s.url == url)

    def expire_response_url(self, url: str) -> None:
        """Make ``url`` answer like one older than 30 minutes."""
        with self._lock:
            for state in self._response_urls.values():
                if state.url == url:
                    state.expired = True
                    return
        raise KeyError(f"not a response URL of this stand-in: {url}")

    def _response_url_post(self, rid: str, raw: bytes) -> Reply:
        url = f"{self.base_url}/response/{rid}"
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        params: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        params["_response_url"] = url
        # Recording and applying happen under one hold of the lock: whoever wait_for()s this
        # call sees its effects (messages) too.
        with self._cond:
            self._record(Call(RESPONSE_URL, copy.deepcopy(params), None, time.monotonic()))
            fault = self._take_fault(RESPONSE_URL)
            if fault is not None and not fault.carried_out:
                return self._fault_reply(fault, webhook=True)
            reply = self._carry_out_post(rid, body)
        return reply if fault is None else self._after_carrying_out(fault, reply)

    def _carry_out_post(self, rid: str, body: Any) -> Reply:
        """A post to response URL ``rid``, answered; called under the lock."""
        state = self._response_urls.get(rid)
        if state is None:
            return text_reply(404, "no_service")
        state.uses += 1
        if state.expired or state.uses > RESPONSE_URL_MAX_USES:
            return text_reply(404, "expired_url")
        if not isinstance(body, dict):
            return text_reply(400, "invalid_payload")
        has_content = any(body.get(k) for k in ("text", "blocks", "attachments"))
        if not has_content and not body.get("delete_original"):
            return text_reply(400, "no_text")
        self._apply_response(state, body)
        return text_reply(200, "ok")

    def _apply_response(self, state: ResponseUrl, body: dict[str, Any]) -> None:
        if state.channel is None:
            return
        target = (
            self._find_message(state.channel, state.message_ts)
            if state.message_ts is not None
            else None
        )
        if body.get("delete_original") and target is not None:
            self._messages[state.channel].remove(target)
        elif body.get("replace_original") and target is not None:
            target["text"] = as_text(body.get("text"))
            for key in ("blocks", "attachments"):
                if key in body:
                    target[key] = body[key]
                else:
                    target.pop(key, None)
        elif body.get("response_type") == "in_channel" and not body.get("replace_original"):
            msg = self._new_message(
                as_text(body.get("text")), body.get("blocks"), body.get("attachments")
            )
            thread_ts = as_text(body.get("thread_ts"))
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self._messages.setdefault(state.channel, []).append(msg)
