"""The Web API methods that post and edit messages: ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``; and what a message's content and metadata must be, as Slack checks them."""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.tools.localslack.blockkit import validate_blocks
from bot.tools.localslack.state import StandinState
from bot.tools.localslack.wire import SlackError, as_text, decode_json_field

# Slack's limit on a message's text.
_MAX_MESSAGE_TEXT = 40000
# What Slack's metadata guide allows in an event_type: letters, digits, "_" and "-", no periods.
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")
# Slack's answer when it drops metadata whose event_type it does not accept.
_SCHEMA_WARNING = "invalid_metadata_schema"


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

    @staticmethod
    def _metadata(params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(metadata to store, warning) of a message request; raises Slack's errors.

        Not JSON or not an object: ``invalid_metadata_format``. No text ``event_type`` or no
        object ``event_payload``: ``invalid_metadata_schema``. An ``event_type`` with other
        characters than Slack allows is not an error: Slack posts the message, drops the
        metadata and warns ``invalid_metadata_schema`` (its metadata guide says so).
        """
        raw = decode_json_field(params.get("metadata"))
        if raw is None or raw == "":
            return None, None
        if not isinstance(raw, dict):
            raise SlackError("invalid_metadata_format")
        event_type, payload = raw.get("event_type"), raw.get("event_payload")
        if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
            raise SlackError("invalid_metadata_schema")
        if not _EVENT_TYPE.fullmatch(event_type):
            return None, _SCHEMA_WARNING
        return {"event_type": event_type, "event_payload": copy.deepcopy(payload)}, None

    @staticmethod
    def _with_warning(answer: dict[str, Any], warning: str | None) -> dict[str, Any]:
        if warning is not None:  # Slack's shape for a warning on a successful call
            answer["warning"] = warning
            answer["response_metadata"] = {"warnings": [warning]}
        return answer

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
        metadata, warning = self._metadata(params)
        msg = self._new_message(text or "", blocks, attachments)
        if metadata is not None:
            msg["metadata"] = metadata
        thread_ts = as_text(params.get("thread_ts"))
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self._find_message(channel, thread_ts)
            if parent is not None:
                msg["parent_user_id"] = parent["user"]
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                parent["latest_reply"] = msg["ts"]
        self._messages.setdefault(channel, []).append(msg)
        answer = {"ok": True, "channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}
        return self._with_warning(answer, warning)

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
        metadata, warning = self._metadata(params)
        if metadata is not None:  # left out, the message keeps the metadata it has
            msg["metadata"] = metadata
        if text is not None:
            msg["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:
                if value:
                    msg[key] = value
                else:  # an empty array removes them; leaving the field out keeps them
                    msg.pop(key, None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        answer = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }
        return self._with_warning(answer, warning)

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = as_text(params.get("channel"))
        if not channel:
            raise SlackError("channel_not_found")
        if not as_text(params.get("user")):
            raise SlackError("user_not_in_channel")
        self._check_member(channel)
        self._content(params)
        return {"ok": True, "message_ts": self._next_ts()}
