"""The Slack stand-in now lives in the product as ``bot.localslack`` (``python -m bot console``
runs on it); this module keeps ``from tests.slack_standin import ...`` working."""

from __future__ import annotations

from bot.localslack import *  # noqa: F403
from bot.localslack import RESPONSE_URL_MAX_USES, Call, SlackStandin, validate_blocks

__all__ = ["RESPONSE_URL_MAX_USES", "Call", "SlackStandin", "validate_blocks"]
