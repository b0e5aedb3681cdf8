"""The signed-request builders now live in the product as ``bot.tools.signing`` (the console sends
them); this module keeps ``from tests.support.signing import ...`` working."""

from __future__ import annotations

from bot.tools.signing import *  # noqa: F403
from bot.tools.signing import (
    FORM_CONTENT_TYPE,
    VERIFICATION_TOKEN,
    block_actions_body,
    block_actions_payload,
    channel_name_for,
    new_trigger_id,
    post_signed,
    sign,
    slash_command_body,
    slash_command_fields,
    view_submission_body,
    view_submission_payload,
)

__all__ = [
    "FORM_CONTENT_TYPE",
    "VERIFICATION_TOKEN",
    "block_actions_body",
    "block_actions_payload",
    "channel_name_for",
    "new_trigger_id",
    "post_signed",
    "sign",
    "slash_command_body",
    "slash_command_fields",
    "view_submission_body",
    "view_submission_payload",
]
