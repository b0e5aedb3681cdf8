"""One answer per waiting task: the claim a click takes before anything is sent to Airflow,
on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.airflow.hitl import HitlRequest
from bot.core import answer_claims
from bot.core.answer_claims import ANSWERED, ANSWERING, READY, AnswerClaims
from bot.core.hitl import claim_id
from bot.store import Store, clock

REQ = HitlRequest(dag_id="etl", run_id="r1", task_id="approve", map_index=-1, subject="Ship?")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    yield store
    store.close()


def take(claims: AnswerClaims, user: str, chosen: str = "yes") -> answer_claims.Claim:
    return claims.take("prod", REQ, user_id=user, channel_id="C1", chosen=[chosen])


def test_the_first_click_holds_the_task_and_a_second_is_told_who_is_answering(
    store: Store,
) -> None:
    claims = AnswerClaims(store, verb="respond")
    first = take(claims, "U1")
    assert first.held_by is None and first.id == claim_id("prod", REQ)
    row = store.action(first.id)
    assert row is not None
    assert (row.state, row.confirmed_by, row.outcome, row.verb) == (
        ANSWERING,
        "U1",
        "yes",
        "respond",
    )
    assert (row.user_id, row.channel_id, row.deployment, row.dag_id) == ("U1", "C1", "prod", "etl")
    assert row.args == {"key": "r1/approve/-1"}
    # Kept a month: a task may wait that long, and every post of it names this claim.
    assert row.expires_at - row.created_at == timedelta(days=30)
    second = take(claims, "U2", "no")
    assert second.held_by == "<@U1> is answering it from Slack (`yes`)"


def test_an_answered_task_stays_answered_and_says_when(store: Store) -> None:
    claims = AnswerClaims(store, verb="respond")
    claim = take(claims, "U1")
    before = clock.now()
    at = claim.answered()
    assert before <= at <= clock.now()
    row = store.action(claim.id)
    assert row is not None and row.state == ANSWERED and row.finished_at == at
    assert take(claims, "U2").held_by == "<@U1> answered it from Slack (`yes`)"


def test_a_claim_released_or_answered_elsewhere_lets_the_next_click_decide(store: Store) -> None:
    claims = AnswerClaims(store, verb="respond")
    claim = take(claims, "U1")
    claim.release()
    row = store.action(claim.id)
    assert row is not None and row.state == READY
    again = take(claims, "U2", "no")
    assert again.held_by is None
    again.answered_elsewhere()
    row = store.action(claim.id)
    assert row is not None and row.state == "elsewhere" and row.finished_at is not None
    assert take(claims, "U3").held_by == "<@U2> answered it from Slack (`no`)"


def test_a_claim_left_answering_by_a_dead_process_is_taken_over_after_two_minutes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = AnswerClaims(store, verb="respond")
    take(claims, "U1")
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=119))
    assert take(claims, "U2").held_by is not None
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=120.5))
    taken = take(claims, "U2", "no")
    assert taken.held_by is None
    row = store.action(taken.id)
    assert row is not None and (row.confirmed_by, row.outcome) == ("U2", "no")


def test_a_claim_whose_row_is_gone_names_someone(store: Store) -> None:
    class Gone:
        """A table where the claim is taken by someone whose row is not readable."""

        def action(self, action_id: str) -> None:
            return None

        def claim_once(self, *args: object, **kwargs: object) -> None:
            return None

        def reclaim_stale(self, *args: object, **kwargs: object) -> None:
            return None

        def update_action(self, action_id: str, **changes: object) -> None:
            raise AssertionError("nothing to update")

    held = AnswerClaims(Gone(), verb="respond").take(
        "prod", REQ, user_id="U1", channel_id="C1", chosen=["yes"]
    )
    assert held.held_by == "someone answered it from Slack ()"
