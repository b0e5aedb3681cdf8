"""The Web API methods that post and edit messages: ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``; and what a message's content must be, as Slack checks it."""

from __future__ import annotations

import copy
from typing import Any

from bot.tools.localslack.blockkit import validate_blocks
from bot.tools.localslack.state import StandinState
from bot.tools.localslack.wire import SlackError, as_text, decode_json_field

# Slack's limit on a message's text.
_MAX_MESSAGE_TEXT = 40000


class Messages(StandinState):
    """Messages posted, threaded and edited in the stand-in's channels."""

    def _check_member(self, channel: str) -> None:
        if self.member_channels is not None and channel not in self.member_channels:
            raise SlackError("not_in_channel")

    @staticmethod
    def _content(params: dict[str, Any]) -> tuple[str | None, Any, Any]:
        """(text, blocks, attachments) of a message request; raises Slack's errors."""
        text = None if params.get("text") is None else as_text(params.get("text"))
        blocks = decode_json_field(params.get("blocks"))
        attachments = decode_json_field(params.get("attachments"))
        if not (text and text.strip()) and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(text) > _MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            errors = validate_blocks(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks",
                    {
                        "errors": errors,
                        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                    },
                )
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        return text, blocks, attachments

    def _new_message(self, text: str, blocks: Any, attachments: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "ts": self._next_ts(),
        }
        if blocks is not None:
            msg["blocks"] = blocks
        if attachments is not None:
            msg["attachments"] = attachments
        return msg

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = as_text(params.get("channel"))
        if not channel:
            raise SlackError("channel_not_found")
        self._check_member(channel)
        text, blocks, attachments = self._content(params)
        msg = self._new_message(text or "", blocks, attachments)
        thread_ts = as_text(params.get("thread_ts"))
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self._find_message(channel, thread_ts)
            if parent is not None:
                msg["parent_user_id"] = parent["user"]
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                parent["latest_reply"] = msg["ts"]
        self._messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = as_text(params.get("channel"))
        if not channel:
            raise SlackError("channel_not_found")
        self._check_member(channel)
        ts = as_text(params.get("ts"))
        msg = self._find_message(channel, ts) if ts else None
        if msg is None:
            raise SlackError("message_not_found")
        text, blocks, attachments = self._content(params)
        if text is not None:
            msg["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:
                if value:
                    msg[key] = value
                else:  # an empty array removes them; leaving the field out keeps them
                    msg.pop(key, None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = as_text(params.get("channel"))
        if not channel:
            raise SlackError("channel_not_found")
        if not as_text(params.get("user")):
            raise SlackError("user_not_in_channel")
        self._check_member(channel)
        self._content(params)
        return {"ok": True, "message_ts": self._next_ts()}
