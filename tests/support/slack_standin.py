"""The Slack stand-in lives in the product as ``bot.tools.localslack`` (``python -m bot console``
runs on it); this module keeps the tests' ``from tests.support.slack_standin import ...``."""

from __future__ import annotations

from bot.tools.localslack import *  # noqa: F403
from bot.tools.localslack import RESPONSE_URL_MAX_USES, Call, SlackStandin, validate_blocks

__all__ = ["RESPONSE_URL_MAX_USES", "Call", "SlackStandin", "validate_blocks"]
