"""The outbox's leases and queues: a try is made only while its process holds the message's
lease, and one thread's queue does not hide the other threads' due messages.

``deliver_due`` leases a batch of messages, then tries them one after another: when Slack
hangs, each try lasts the client's timeout (10 s), and a lease that lapsed meanwhile may be
another process's, which would post the message too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.slack import delivery
from bot.slack import outbox as slack_outbox
from bot.slack.delivery import Retry
from bot.store import Store, clock


class Named(slack_outbox.SlackMessenger):
    def __init__(self, name: str, store: Store) -> None:
        super().__init__(store, WebClient(token="xoxb-test"))
        self._name = name

    @property
    def owner(self) -> str:
        return self._name


def test_a_message_is_not_tried_after_its_lease_lapsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    t = [datetime(2026, 1, 1, tzinfo=UTC)]
    monkeypatch.setattr(clock, "now", lambda: t[0])
    for n in range(8):  # eight channels' posts, each waiting for its next try
        row, _ = store.add_message(
            "post", f"C{n}/x", {"channel": f"C{n}", "text": "hi"}, owner="earlier",
            give_up_at=t[0] + timedelta(hours=1), lease_seconds=60, key=f"k{n}",
        )  # fmt: skip
        store.retry_message(row.id, "earlier", at=t[0], error="http_503", unknown=False)

    a = Named("process-a", store)
    taken_by_b: set[int] = set()
    tried_by_a: list[int] = []

    def hanging_slack(client: WebClient, row: object, resolve: object) -> Retry:
        # Another process's loop runs every second meanwhile.
        for m in store.take_due_messages("process-b", lease_seconds=60):
            if m.id not in tried_by_a:  # B takes it over before A has even tried it
                taken_by_b.add(m.id)
        tried_by_a.append(row.id)  # type: ignore[attr-defined]
        t[0] += timedelta(seconds=11)  # the call times out (SLACK_TIMEOUT_S = 10)
        return Retry("TimeoutError", unknown=True)

    monkeypatch.setattr(delivery, "send", hanging_slack)
    a.deliver_due()
    both = taken_by_b & set(tried_by_a)
    assert not both, f"messages {sorted(both)} were taken over, then tried by their first taker"
    store.close()


def test_a_long_queue_in_one_thread_does_not_hold_up_other_threads(tmp_path: Path) -> None:
    # Messages queued behind a head that is not due yet (a long Retry-After, a backoff) are
    # "due" themselves (next_try_at = when added): they must not fill the page of due messages.
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    now = clock.now()
    later = now + timedelta(hours=1)
    head, _ = store.add_message(
        "post", "C1/busy", {"channel": "C1", "text": "head"}, owner="p",
        give_up_at=later, lease_seconds=60, key="head",
    )  # fmt: skip
    store.retry_message(head.id, "p", at=now + timedelta(minutes=5), error="ratelimited",
                        unknown=False)  # fmt: skip
    for n in range(60):  # its thread's next messages wait behind it
        store.add_message(
            "post", "C1/busy", {"channel": "C1", "text": f"m{n}"}, owner="p",
            give_up_at=later, lease_seconds=60, key=f"busy{n}",
        )  # fmt: skip
    other, _ = store.add_message(
        "post", "C2/quiet", {"channel": "C2", "text": "other"}, owner="p",
        give_up_at=later, lease_seconds=60, key="other",
    )  # fmt: skip
    store.retry_message(other.id, "p", at=now, error="http_503", unknown=False)
    taken = store.take_due_messages("q", lease_seconds=60)
    assert [m.key for m in taken] == ["other"]
    store.close()
