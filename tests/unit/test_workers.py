"""The work pool: bounded, and its jobs start between acks, not during them."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator

import pytest

from bot.airflow import waits
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


def test_jobs_queued_behind_one_another_are_held_back_no_longer_than_one() -> None:
    # Requests never stop: each job waits the maximum, counted from its submission, not from
    # when the job before it started (ten jobs in ~0.3 s, not ten times 0.3 s).
    priority = AckPriority(quiet_seconds=0.05, max_wait_seconds=0.3)
    pool = Workers(threads=4, max_pending=10, priority=priority)
    never = threading.Event()
    ack_in_progress(priority, never)
    done = [threading.Event() for _ in range(10)]
    try:
        started = time.monotonic()
        for event in done:
            assert pool.try_submit(event.set)
        assert all(event.wait(5) for event in done)
        assert time.monotonic() - started < 1.5
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


# -- a command waiting for Airflow steps aside ---------------------------------------------


def test_a_job_waiting_for_airflow_lets_the_next_one_start() -> None:
    # One working place: the job waiting (for a read in flight, or the deployment's budget)
    # gives it up, so the job behind it starts and can join that read.
    pool = Workers(threads=1, max_pending=10, priority=AckPriority(max_wait_seconds=0))
    answer = threading.Event()
    second_ran = threading.Event()

    def waits_for_airflow() -> None:
        with waits.aside():
            answer.wait(10)

    try:
        assert pool.try_submit(waits_for_airflow)
        assert pool.try_submit(second_ran.set)
        assert second_ran.wait(5), "the second job waited for the first one's Airflow call"
    finally:
        answer.set()
        pool.shutdown(wait=True)
    assert pool.in_flight == 0


def test_no_more_jobs_work_at_once_than_threads_however_many_wait() -> None:
    pool = Workers(threads=3, max_pending=100, priority=AckPriority(max_wait_seconds=0))
    lock = threading.Lock()
    working, peak, done = 0, 0, threading.Event()
    answer = threading.Event()
    finished: list[int] = []

    def job(i: int) -> None:
        nonlocal working, peak
        for _ in range(2):  # work, wait for Airflow, work again
            with lock:
                working += 1
                peak = max(peak, working)
            time.sleep(0.01)
            with lock:
                working -= 1
            with waits.aside():
                answer.wait(10)
        with lock:
            finished.append(i)
            if len(finished) == 40:
                done.set()

    try:
        for i in range(40):
            assert pool.try_submit(functools.partial(job, i))
        time.sleep(0.5)
        answer.set()
        assert done.wait(10)
    finally:
        pool.shutdown(wait=True)
    assert peak == 3
    assert sorted(finished) == list(range(40))


def test_a_job_back_from_its_wait_goes_before_jobs_not_yet_started() -> None:
    pool = Workers(threads=1, max_pending=10, priority=AckPriority(max_wait_seconds=0))
    order: list[str] = []
    answer, holding, release = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with waits.aside():
            answer.wait(10)
        order.append("first, back")

    def second() -> None:  # takes the place the first gave up, and holds it
        holding.set()
        release.wait(10)
        order.append("second")

    try:
        assert pool.try_submit(first)
        assert pool.try_submit(second)
        assert holding.wait(5)
        assert pool.try_submit(lambda: order.append("third"))
        answer.set()  # the first is back, and waits for the place
        time.sleep(0.2)
        release.set()
    finally:
        pool.shutdown(wait=True)
    assert order == ["second", "first, back", "third"]


def test_outside_the_pool_a_wait_for_airflow_is_just_a_wait() -> None:
    with waits.aside():
        pass  # no pool runs this thread: nothing to tell
