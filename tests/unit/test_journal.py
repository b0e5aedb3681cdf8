"""What a journal file says is owed, and what one batch of it moves to the store."""

from __future__ import annotations

import json

from bot.slack.journal import _net, read_journal
from bot.store import JournaledRequest
from bot.store.clock import now


def lines(*records: dict[str, object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def accepted(key: str) -> dict[str, object]:
    return {"a": key, "b": f"text={key}", "h": {"x-slack-signature": [key]}, "t": 1_700_000_000}


def test_a_file_owes_what_it_accepted_and_neither_did_nor_released() -> None:
    data = lines({"o": "host:7"}, accepted("k1"), accepted("k2"), accepted("k3"), accepted("k4"),
                 {"d": "k2"}, {"r": "k3"}, {"w": "k4"})  # fmt: skip
    owner, owed = read_journal(data + b'{"a": "k5", "b": "tor')  # the crash tore the last line
    assert owner == "host:7"
    assert [(r.key, r.body, r.wrote) for r in owed] == [("k1", "text=k1", False),
                                                        ("k4", "text=k4", True)]  # fmt: skip
    assert owed[0].headers == {"x-slack-signature": ["k1"]}
    assert owed[0].received_at.timestamp() == 1_700_000_000


def entry(key: str) -> JournaledRequest:
    return JournaledRequest(key, "text=x&token=secret", {}, now())


def test_a_request_done_within_one_batch_never_reaches_the_store() -> None:
    batch = [("a", "fast"), ("a", "slow"), ("d", "fast"), ("w", "slow"), ("d", "older")]
    net = _net(batch, {"slow": entry("slow")})
    assert [r.key for r in net["accepted"]] == ["slow"]
    assert "token" not in net["accepted"][0].body  # the store keeps no verification token
    assert net["wrote"] == ["slow"]
    assert net["done"] == ["older"]  # accepted in an earlier batch: in the store, done now
