"""One answer per waiting task, however many clicks: a stored claim per task, taken atomically.

A click (a double click, someone else, another post of the same task) takes the task's claim
before anything is sent to Airflow; only the taker answers. A claim left ``answering`` by a
process that died mid-way may be taken over after ``STALE_CLAIM_S``: the new taker will find
the task answered, if the first one's answer got through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.airflow.hitl import HitlRequest
from bot.core.hitl import claim_id
from bot.core.reply import code
from bot.store import ActionClaims, NewAction, clock

READY, ANSWERING, ANSWERED, ELSEWHERE = "ready", "answering", "answered", "elsewhere"
CLAIM_TTL_S = 30 * 24 * 3600.0
STALE_CLAIM_S = 120.0


@dataclass(frozen=True)
class Claim:
    """A click's hold on answering one task. ``held_by``: when another click holds it (or
    answered it), who and what, and this one must send nothing."""

    table: ActionClaims
    id: str
    held_by: str | None = None

    def answered(self) -> datetime:
        at = clock.now()
        self.table.update_action(self.id, state=ANSWERED, finished_at=at)
        return at

    def answered_elsewhere(self) -> None:
        """Airflow says the task was answered already, not from here."""
        self.table.update_action(self.id, state=ELSEWHERE, finished_at=clock.now())

    def release(self) -> None:
        """Nothing was answered: another click may take it."""
        self.table.update_action(self.id, state=READY)


class AnswerClaims:
    def __init__(self, table: ActionClaims, *, verb: str) -> None:
        self._table = table
        self._verb = verb  # the verb whose buttons answer (kept on the claim's row)

    def take(
        self,
        deployment: str,
        req: HitlRequest,
        *,
        user_id: str,
        channel_id: str,
        chosen: list[str],
    ) -> Claim:
        claim = claim_id(deployment, req)
        template = NewAction(verb=self._verb, state=READY, user_id=user_id, channel_id=channel_id,
                             ttl_seconds=CLAIM_TTL_S, deployment=deployment, dag_id=req.dag_id,
                             args={"key": req.key})  # fmt: skip
        mine = {"confirmed_by": user_id, "outcome": ", ".join(chosen)}
        taken = self._table.claim_once(claim, template, from_state=READY, to_state=ANSWERING,
                                       decided_at=clock.now(), **mine)  # fmt: skip
        if taken is None:
            stale = clock.now() - timedelta(seconds=STALE_CLAIM_S)
            taken = self._table.reclaim_stale(claim, state=ANSWERING, decided_before=stale,
                                              **mine)  # fmt: skip
        if taken is not None:
            return Claim(self._table, claim)
        other = self._table.action(claim)
        who = f"<@{other.confirmed_by}>" if other and other.confirmed_by else "someone"
        said = code(other.outcome or "") if other else ""
        state = "is answering it" if other and other.state == ANSWERING else "answered it"
        return Claim(self._table, claim, held_by=f"{who} {state} from Slack ({said})")
