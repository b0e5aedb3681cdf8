"""The fault suite of what the bot owes Slack (testkit/faults.py), at a tenth of its durations:
the bot as a host runs it, on PostgreSQL, through Slack's outage (also while it starts), a
deploy, a crash, a database restart and an Airflow outage, a kill -9 of one worker or of every
process (on this machine or with the machine lost). Each command acknowledged gets one answer
and each failed run one alert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit import faults
from testkit.postgres_server import PostgresServer

SCALE = 0.1


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandin]:
    with SlackStandin(member_channels=None) as standin:
        yield standin


@pytest.mark.parametrize(
    "case",
    # Slack's rate limit and lost answers are the flow tests' (tests/flow/test_outbox_flow.py)
    # and the benchmark's: here what needs real processes, or takes minutes at full scale.
    ["slack_down", "slack_down_at_start", "sigterm", "sigterm_small_pool",
     "sigterm_every_process", "kill9", "kill9_worker", "machine_lost", "pg_restart",
     "airflow_down"],
)  # fmt: skip
def test_nothing_is_lost_or_said_twice(
    case: str, slack: SlackStandin, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    tally = faults.run(case, slack, postgres_server, tmp_path, SCALE)
    assert tally.acked == tally.sent and tally.clean, tally
    assert tally.answered == tally.sent
    if case in ("sigterm_small_pool", "sigterm_every_process"):
        assert tally.handed_over > 0, tally  # the hand-over, not only the grace, was at work
