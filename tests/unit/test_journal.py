"""What a journal file says is owed, and what one batch of it moves to the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.slack.journal import RequestJournal, _net, read_journal
from bot.store import JournaledRequest, Store
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


def test_a_live_processs_file_is_left_alone_and_a_dead_ones_is_carried_on(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    folder = tmp_path / "journal"
    first = RequestJournal(store, folder, owner=lambda: "host:1")
    other = RequestJournal(store, folder, owner=lambda: "host:2")
    first.start()
    other.start()
    try:
        first.accepted("k1", ("text=one", {"x-slack-signature": ["k1"]}))
        first.accepted("k2", ("text=two", {}))
        with first.running("k2"):
            pass  # done
        assert other.recover() == 0  # its process is alive: its lock is held
        assert first._fd is not None
        os.close(first._fd)  # the process dies: the kernel lets its lock go
        first._fd = None
        assert other.recover() == 1
        [taken] = store.take_journaled("host:2", lease_seconds=20)
        assert (taken.key, taken.body, taken.wrote) == ("k1", "text=one", False)
        assert [p.name for p in folder.iterdir()] == [other._path.name if other._path else ""]
    finally:
        first.close()
        other.close()
        store.close()


def test_a_long_lived_processs_file_starts_anew_with_only_what_is_owed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    journal = RequestJournal(store, tmp_path / "journal", owner=lambda: "host:1")
    journal.start()
    try:
        for key in ("k1", "k2", "k3"):
            journal.accepted(key, (f"text={key}", {}))
        with journal.running("k2"):
            pass
        before = journal._path
        monkeypatch.setattr("bot.slack.journal.ROTATE_BYTES", 1)
        journal._rotate()
        assert before is not None and not before.exists()
        [now] = list((tmp_path / "journal").iterdir())
        owner, owed = read_journal(now.read_bytes())
        assert owner == "host:1" and [r.key for r in owed] == ["k1", "k3"]
    finally:
        journal.close()
        store.close()
