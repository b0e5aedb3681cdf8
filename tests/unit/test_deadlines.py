"""When a ``late`` deadline falls (bot/core/deadlines.py): in its zone, on its days, through the
days the clocks change, and which one is due to be checked."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.config import Deadline
from bot.core.deadlines import GRACE_SECONDS, ahead, due, last_deadline, shown

NINE_BERLIN = Deadline(at=time(9, 0), zone="Europe/Berlin")
WEEKDAYS = frozenset(range(5))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_deadline_falls_at_its_wall_clock_time_in_its_zone() -> None:
    # Berlin is UTC+1 in December: 09:00 there is 08:00 UTC.
    assert last_deadline(NINE_BERLIN, utc(2026, 12, 7, 8, 0)) == utc(2026, 12, 7, 8, 0)
    assert last_deadline(NINE_BERLIN, utc(2026, 12, 7, 7, 59)) == utc(2026, 12, 6, 8, 0)
    # In summer, UTC+2.
    assert last_deadline(NINE_BERLIN, utc(2026, 7, 1, 12, 0)) == utc(2026, 7, 1, 7, 0)


def test_utc_is_the_zone_left_out() -> None:
    assert last_deadline(Deadline(at=time(6, 30)), utc(2026, 12, 7, 6, 31)) == utc(
        2026, 12, 7, 6, 30
    )


def test_days_it_does_not_apply_are_skipped() -> None:
    weekdays = Deadline(at=time(9, 0), zone="Europe/Berlin", days=WEEKDAYS)
    sunday = utc(2026, 12, 6, 12, 0)  # 6 December 2026 is a Sunday
    assert last_deadline(weekdays, sunday) == utc(2026, 12, 4, 8, 0)  # Friday's
    monday_early = utc(2026, 12, 7, 7, 0)
    assert last_deadline(weekdays, monday_early) == utc(2026, 12, 4, 8, 0)


def test_no_day_at_all_has_no_deadline() -> None:
    never = Deadline(at=time(9, 0), days=frozenset())
    assert last_deadline(never, utc(2026, 12, 7, 12, 0)) is None


def test_the_days_the_clocks_change() -> None:
    # Berlin: 29 March 2026 02:00 jumps to 03:00; 25 October 2026 03:00 falls back to 02:00.
    spring = Deadline(at=time(9, 0), zone="Europe/Berlin")
    assert last_deadline(spring, utc(2026, 3, 29, 7, 0)) == utc(2026, 3, 29, 7, 0)
    assert last_deadline(spring, utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 28, 8, 0)
    autumn = last_deadline(spring, utc(2026, 10, 25, 12, 0))
    assert autumn == utc(2026, 10, 25, 8, 0)
    # A deadline inside the gap falls the moment the clocks jump (02:30 read before it).
    gap = Deadline(at=time(2, 30), zone="Europe/Berlin")
    assert last_deadline(gap, utc(2026, 3, 29, 2, 0)) == utc(2026, 3, 29, 1, 30)


def test_a_deadline_is_due_within_its_grace_and_not_before_the_subscription() -> None:
    at = utc(2026, 12, 7, 8, 0)
    assert due(NINE_BERLIN, at, since=None) == at
    assert due(NINE_BERLIN, at + timedelta(seconds=GRACE_SECONDS), since=None) == at
    assert due(NINE_BERLIN, at + timedelta(seconds=GRACE_SECONDS + 1), since=None) is None
    assert due(NINE_BERLIN, at + timedelta(minutes=5), since=at) is None
    assert due(NINE_BERLIN, at + timedelta(minutes=5), since=at - timedelta(seconds=1)) == at


def test_shown_as_it_was_set() -> None:
    assert shown(NINE_BERLIN, utc(2026, 12, 7, 8, 0)) == "09:00 Europe/Berlin"
    assert shown(Deadline(at=time(6, 5)), utc(2026, 12, 7, 6, 5)) == "06:05 UTC"


def test_a_deadline_missed_by_a_bot_that_was_down_is_still_checked_for_an_hour() -> None:
    # Down at 09:00 (a deploy), back by 10:00: who is late is still told; at 10:00:01, it
    # would be news from the past, and the next morning's deadline comes.
    nine = utc(2026, 12, 7, 8, 0)
    assert due(NINE_BERLIN, nine + timedelta(hours=1), since=None) == nine
    assert due(NINE_BERLIN, nine + timedelta(hours=1, seconds=1), since=None) is None


def test_the_next_deadline_is_seen_ahead_within_the_lead_only() -> None:
    lead = 600.0
    # 07:51 UTC is 08:51 in Berlin: 09:00 comes in 9 minutes, within the lead.
    assert ahead(NINE_BERLIN, utc(2026, 12, 7, 7, 51), lead=lead) == utc(2026, 12, 7, 8, 0)
    assert ahead(NINE_BERLIN, utc(2026, 12, 7, 7, 49), lead=lead) is None  # 11 minutes: not yet
    # At the deadline and after it, the next is a day away.
    assert ahead(NINE_BERLIN, utc(2026, 12, 7, 8, 0), lead=lead) is None
    assert ahead(NINE_BERLIN, utc(2026, 12, 7, 8, 0), lead=86400) == utc(2026, 12, 8, 8, 0)


def test_the_next_deadline_skips_the_days_it_does_not_apply() -> None:
    weekdays = Deadline(at=time(9, 0), zone="Europe/Berlin", days=WEEKDAYS)
    friday_after = utc(2026, 12, 4, 9, 0)  # 4 December 2026 is a Friday
    assert ahead(weekdays, friday_after, lead=4 * 86400) == utc(2026, 12, 7, 8, 0)  # Monday's
    assert ahead(weekdays, utc(2026, 12, 6, 7, 55), lead=600) is None  # Sunday: none
    assert ahead(Deadline(at=time(9, 0), days=frozenset()), friday_after, lead=1e9) is None
