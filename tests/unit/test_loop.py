"""The background loop every background task runs on (bot/core/loop.py): it stops when told,
at once; skips its round without its lease; outlives a round that fails; spreads its first
round within the jitter."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bot.core.loop import STOP, After, Loop
from bot.store import StoreUnavailable


def test_a_loop_stops_promptly_however_long_its_interval() -> None:
    ran = threading.Event()
    loop = Loop("test-loop", ran.set, interval=3600.0, what="testing")
    loop.start()
    assert ran.wait(5)
    assert any(t.name == "test-loop" and t.daemon for t in threading.enumerate())
    began = time.monotonic()
    loop.stop()
    assert time.monotonic() - began < 1.0
    assert not loop.running


def test_a_stopped_loop_starts_again_and_a_running_one_is_not_started_twice() -> None:
    rounds = threading.Semaphore(0)
    loop = Loop("test-loop", rounds.release, interval=3600.0, what="testing")
    loop.start()
    assert rounds.acquire(timeout=5)
    loop.start()  # running: no second thread, no second round
    assert not rounds.acquire(timeout=0.2)
    loop.stop()
    loop.start()
    assert rounds.acquire(timeout=5)
    loop.stop()
    assert [t for t in threading.enumerate() if t.name == "test-loop"] == []


def test_a_round_is_skipped_while_the_lease_is_not_held() -> None:
    held = iter([False, True, False, False, True])
    rounds: list[int] = []
    loop = Loop("leased", lambda: rounds.append(1), interval=1.0, what="testing",
                lease=lambda: next(held))  # fmt: skip
    for _ in range(5):
        loop.run_round()
    assert len(rounds) == 2


def test_a_round_without_the_lease_runs_nothing_in_the_thread() -> None:
    asked = threading.Event()
    rounds: list[int] = []

    def lease() -> bool:
        asked.set()
        return False

    loop = Loop("leased", lambda: rounds.append(1), interval=0.01, what="testing", lease=lease)
    loop.start()
    assert asked.wait(5)
    time.sleep(0.1)  # several more rounds' time
    loop.stop()
    assert rounds == []


def test_a_loop_outlives_rounds_that_fail(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[Exception] = [
        RuntimeError("a bug"),
        StoreUnavailable("connection refused", kind="OperationalError"),
    ]
    done = threading.Event()

    def round_() -> None:
        if failures:
            raise failures.pop(0)
        done.set()

    caplog.set_level(logging.WARNING)
    loop = Loop("flaky", round_, interval=0.01, what="doing the test's work")
    loop.start()
    assert done.wait(5)  # the third round ran
    loop.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert "doing the test's work failed; carrying on" in messages
    assert "doing the test's work: the state store failed: OperationalError" in messages
    bug = next(r for r in caplog.records if r.exc_info)
    assert bug.exc_info is not None and "a bug" in str(bug.exc_info[1])  # with its traceback
    store = next(r for r in caplog.records if "state store" in r.getMessage())
    assert store.levelno == logging.WARNING and not store.exc_info


def test_a_loop_may_say_a_store_failure_its_own_way(caplog: pytest.LogCaptureFixture) -> None:
    said: list[str] = []
    loop = Loop("own-way", lambda: None, interval=1.0, what="x", on_store_error=lambda e:
                said.append(e.kind), unexpected="x: unexpected error")  # fmt: skip

    def fails() -> None:
        raise StoreUnavailable("down", kind="OperationalError")

    def bug() -> None:
        raise ValueError("bug")

    assert loop.guarded(fails) is None and loop.guarded(bug) is None
    assert said == ["OperationalError"]
    assert [r.getMessage() for r in caplog.records] == ["x: unexpected error"]


@pytest.mark.parametrize(("first_wait", "jitter"), [(0.0, 0.0), (2.0, 0.0), (30.0, 270.0)])
def test_the_first_round_comes_within_the_jitter(first_wait: float, jitter: float) -> None:
    loop = Loop("j", lambda: None, interval=3600.0, what="x", first_wait=first_wait,
                jitter=jitter)  # fmt: skip
    delays = [loop.first_delay() for _ in range(2000)]
    assert all(first_wait <= d <= first_wait + jitter for d in delays)
    if jitter:  # spread over the range, not all at one end
        assert min(delays) < first_wait + jitter / 4 and max(delays) > first_wait + 3 * jitter / 4


def test_the_first_round_waits_its_first_wait() -> None:
    ran: list[float] = []
    began = time.monotonic()
    loop = Loop("late", lambda: ran.append(time.monotonic() - began), interval=3600.0,
                what="x", first_wait=0.2, jitter=0.1)  # fmt: skip
    loop.start()
    time.sleep(0.5)
    loop.stop()
    assert len(ran) == 1 and 0.2 <= ran[0] < 0.5


def test_a_round_may_end_its_loop_or_set_its_next_wait() -> None:
    waits = iter([After(0.01), After(0.01), STOP])
    count: list[int] = []

    def round_() -> object:
        count.append(1)
        return next(waits)

    loop = Loop("backoff", round_, interval=3600.0, what="x")
    loop.start()
    deadline = time.monotonic() + 5
    while loop.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not loop.running and len(count) == 3  # the hour's interval never waited


def test_wake_cuts_the_wait_short() -> None:
    rounds = threading.Semaphore(0)
    loop = Loop("woken", rounds.release, interval=3600.0, what="x")
    loop.start()
    assert rounds.acquire(timeout=5)
    loop.wake()
    assert rounds.acquire(timeout=5)  # the second round came long before the hour
    loop.stop()


@pytest.mark.parametrize(("final", "expected"), [(False, 0), (True, 1)])
def test_a_final_round_runs_when_stopped_if_asked(final: bool, expected: int) -> None:
    rounds: list[bool] = []
    loop = Loop("final", lambda: rounds.append(True), interval=0.0, what="x",
                first_wait=3600.0, final_round=final)  # fmt: skip
    loop.start()
    loop.stop()
    assert len(rounds) == expected
