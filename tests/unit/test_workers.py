"""The work pool: bounded, and its jobs start between acks, not during them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.core.ack_priority import AckPriority
from bot.core.workers import Workers


@pytest.fixture
def priority() -> AckPriority:
    return AckPriority(quiet_seconds=0.05, max_wait_seconds=30.0)


@pytest.fixture
def workers(priority: AckPriority) -> Iterator[Workers]:
    pool = Workers(threads=4, max_pending=0, priority=priority)
    yield pool
    pool.shutdown(wait=False)


def ack_in_progress(priority: AckPriority, done: threading.Event) -> threading.Thread:
    """A request being acknowledged on its own thread until ``done`` is set."""
    started = threading.Event()

    def handle() -> None:
        with priority.acking():
            started.set()
            done.wait(30)

    thread = threading.Thread(target=handle, daemon=True)
    thread.start()
    assert started.wait(5)
    return thread


def test_work_with_no_request_in_progress_starts_at_once(workers: Workers) -> None:
    ran = threading.Event()
    assert workers.try_submit(ran.set)
    assert ran.wait(5)


def test_work_waits_until_the_acks_in_progress_are_done(
    workers: Workers, priority: AckPriority
) -> None:
    order: list[str] = []
    acked = threading.Event()
    ran = threading.Event()
    request = ack_in_progress(priority, acked)

    def work() -> None:
        order.append("work")
        ran.set()

    assert workers.try_submit(work)
    assert not ran.wait(0.5), "the work started while a request was still being acknowledged"
    order.append("ack")
    acked.set()
    request.join(5)

    assert ran.wait(5)
    assert order == ["ack", "work"]


def test_every_waiting_job_starts_once_the_acks_are_done(
    workers: Workers, priority: AckPriority
) -> None:
    acked = threading.Event()
    ack_in_progress(priority, acked)
    done = [threading.Event() for _ in range(4)]
    for event in done:
        assert workers.try_submit(event.set)
    time.sleep(0.2)
    assert not any(event.is_set() for event in done)

    acked.set()
    assert all(event.wait(5) for event in done)


def test_requests_that_never_stop_delay_work_only_by_the_maximum_wait() -> None:
    priority = AckPriority(quiet_seconds=0.05, max_wait_seconds=0.3)
    pool = Workers(threads=2, max_pending=0, priority=priority)
    never = threading.Event()
    ack_in_progress(priority, never)
    try:
        ran = threading.Event()
        assert pool.try_submit(ran.set)
        assert ran.wait(5), "a busy request path starved the work"
    finally:
        never.set()
        pool.shutdown(wait=False)


def test_a_full_pool_refuses_at_once_instead_of_queueing() -> None:
    pool = Workers(threads=1, max_pending=1)
    release = threading.Event()

    def busy() -> None:
        release.wait(30)

    try:
        assert pool.try_submit(busy)
        assert pool.try_submit(lambda: None)
        assert not pool.try_submit(lambda: None)
        assert pool.in_flight == 2
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert pool.in_flight == 0
