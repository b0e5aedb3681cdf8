"""What the store keeps of a request for another process: what the next needs, and not
Slack's legacy verification token."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode

from bot.slack.journal import without_token


def test_a_slash_commands_token_is_dropped_and_the_rest_kept() -> None:
    body = urlencode({"token": "legacy-secret", "command": "/airflow", "text": "list prod & co"})
    kept = parse_qs(without_token(body))
    assert "token" not in kept and kept["text"] == ["list prod & co"]


def test_an_interactions_token_is_dropped_from_its_payload() -> None:
    payload = {"type": "block_actions", "token": "legacy-secret", "actions": [{"value": "x"}]}
    kept = parse_qs(without_token(urlencode({"payload": json.dumps(payload)})))
    assert json.loads(kept["payload"][0]) == {"type": "block_actions", "actions": [{"value": "x"}]}
    socket = json.loads(without_token(json.dumps(payload)))
    assert "token" not in socket and socket["type"] == "block_actions"
