"""Durations and daily deadlines, as users type them in Slack and write them in the config, as
the bot shows them back, and as the store keeps them."""

from __future__ import annotations

import zoneinfo
from datetime import time

import pytest

from bot.config import Deadline, WatchOptions
from bot.config.times import (
    ALL_DAYS,
    TimeError,
    options_from_json,
    options_to_json,
    parse_deadline,
    parse_duration,
    parse_zone,
    show_days,
    show_deadline,
    show_duration,
)

WEEKDAYS_ONLY = frozenset(range(5))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("2d12h", 216000),
        ("1h0m5s", 3605),
        ("1d2h3m4s", 93784),
        (" 15M ", 900),  # a Slack client's capital, a stray space
    ],
)
def test_each_unit_and_their_combinations_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(90, "1m30s"), (1800, "30m"), (7200, "2h"), (5400, "1h30m"), (86400, "1d"), (0, "0s")],
)
def test_a_duration_is_shown_in_its_short_form(seconds: float, shown: str) -> None:
    assert show_duration(seconds) == shown
    if seconds:
        assert parse_duration(shown) == seconds


@pytest.mark.parametrize("text", ["5x", "30", "m", "", "1.5h", "-5m", "30m1h", "1h 30m", "1hh"])
def test_what_is_not_a_duration_is_refused_with_the_right_form(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == (
        f"`{text.strip()}` is not a duration: write a number and a unit, "
        "like `90s`, `30m`, `2h` or `1h30m`"
    )


def test_a_duration_must_be_positive_and_at_most_a_year() -> None:
    with pytest.raises(ValueError, match="`0m` is no time at all: write a positive duration"):
        parse_duration("0m")
    with pytest.raises(ValueError, match="`400d` is too long: write at most a year"):
        parse_duration("400d")
    assert parse_duration("366d") == 366 * 86400
    for too_long in ("367d", "366d1s"):
        with pytest.raises(ValueError, match=f"`{too_long}` is too long"):
            parse_duration(too_long)
    assert parse_duration("1s") == 1  # the shortest limit there is
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration("9" * 40 + "s")  # no overflow, no traceback


def test_the_caller_quotes_the_value_its_own_way() -> None:
    with pytest.raises(TimeError) as err:
        parse_duration("5`x")
    assert err.value.explain(repr).startswith("'5`x' is not a duration: write a number")
    assert str(err.value).startswith("`5'x` is not a duration")  # no stray backtick


def test_a_deadline_is_a_24_hour_time_in_utc_unless_a_zone_is_named() -> None:
    assert parse_deadline("09:00") == Deadline(at=time(9, 0), zone="UTC")
    assert parse_deadline("9:30") == Deadline(at=time(9, 30), zone="UTC")
    assert parse_deadline("23:59/Europe/Berlin", days=WEEKDAYS_ONLY) == Deadline(
        at=time(23, 59), zone="Europe/Berlin", days=WEEKDAYS_ONLY
    )
    assert parse_deadline("00:00/America/Argentina/Buenos_Aires").zone == (
        "America/Argentina/Buenos_Aires"
    )


def test_a_zone_is_spelt_as_the_zone_database_spells_it() -> None:
    assert parse_deadline("09:00/europe/berlin").zone == "Europe/Berlin"
    assert parse_zone("utc") == "UTC"


@pytest.mark.parametrize(
    "text", ["24:00", "25:00", "09:60", "9am", "0900", "09:00:00", "-1:00", ""]
)
def test_what_is_not_a_time_of_day_is_refused_with_the_right_form(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_deadline(text)
    assert f"`{text}` is not a time of day: write a 24-hour time, like `09:00`" in str(err.value)


@pytest.mark.parametrize("zone", ["Mars/Base", "../../etc/passwd", "Europe/Berlin\x00", "x" * 200])
def test_an_unknown_zone_is_refused_naming_it_and_an_example(zone: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_deadline(f"09:00/{zone}")
    assert f"`{zone.strip()}` is not a time zone" in str(err.value)
    assert "like `Europe/Berlin`" in str(err.value)


@pytest.mark.parametrize(
    "zone", ["../../etc/passwd", "/etc/localtime", "Europe/Berlin\x00", "Europe/Ber lin", "A" * 65]
)
def test_a_name_no_zone_has_never_reaches_the_file_system(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a user types is looked up in the system's zone files: a path, a NUL, or a name
    # longer than any zone's (64 characters at most) is refused before any file is opened.
    opened: list[str] = []

    def zone_info(name: str) -> object:
        opened.append(name)
        raise zoneinfo.ZoneInfoNotFoundError(name)

    monkeypatch.setattr("bot.config.times.zoneinfo.ZoneInfo", zone_info)
    with pytest.raises(TimeError, match="is not a time zone"):
        parse_zone(zone)
    assert opened == []


def test_a_misspelt_zone_is_named_with_the_one_meant() -> None:
    with pytest.raises(ValueError, match="did you mean `Europe/Berlin`"):
        parse_deadline("09:00/Europe/Berln")
    with pytest.raises(ValueError, match="names no time zone after `/`"):
        parse_deadline("09:00/")


def test_a_deadline_is_shown_with_its_zone_and_days() -> None:
    berlin = parse_deadline("09:00/Europe/Berlin", days=WEEKDAYS_ONLY)
    assert show_deadline(berlin) == "09:00 Europe/Berlin, Mon–Fri"
    assert show_deadline(parse_deadline("7:05")) == "07:05 UTC"
    assert show_days(frozenset({0, 2, 4})) == "Mon, Wed, Fri"
    assert show_days(frozenset({5, 6})) == "Sat, Sun"
    assert show_days(frozenset({0, 1, 2, 4})) == "Mon–Wed, Fri"
    assert show_days(ALL_DAYS) == ""


# -- the store's JSON ---------------------------------------------------------------------------


def test_the_defaults_are_stored_as_nothing() -> None:
    assert options_to_json(WatchOptions()) is None
    assert options_from_json(None) == WatchOptions()
    assert options_from_json({}) == WatchOptions()


def test_options_are_stored_as_json_and_read_back() -> None:
    late = Deadline(at=time(9, 0), zone="Europe/Berlin", days=WEEKDAYS_ONLY)
    options = WatchOptions(long_after=1800.0, queued_after=600.0, late=late)
    stored = options_to_json(options)
    assert stored == {
        "long_after": 1800.0,
        "queued_after": 600.0,
        "late": {
            "at": "09:00",
            "zone": "Europe/Berlin",
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
    }
    assert options_from_json(stored) == options
    every_day = WatchOptions(late=Deadline(at=time(18, 30)))
    assert options_to_json(every_day) == {"late": {"at": "18:30", "zone": "UTC"}}
    assert options_from_json(options_to_json(every_day)) == every_day
    assert options_from_json('{"long_after": 60}') == WatchOptions(long_after=60.0)


def test_the_shortest_and_longest_limits_and_a_deadlines_window_are_kept() -> None:
    shortest = WatchOptions(long_after=1.0, queued_after=366 * 86400.0)
    assert options_from_json(options_to_json(shortest)) == shortest
    window = WatchOptions(late=Deadline(at=time(9, 0), window_seconds=6 * 3600.0))
    assert options_to_json(window) == {
        "late": {"at": "09:00", "zone": "UTC", "window_seconds": 6 * 3600.0}
    }
    assert options_from_json(options_to_json(window)) == window


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ({"digest": {"at": "09:00"}, "long_after": 60}, WatchOptions(long_after=60.0)),
        ({"long_after": "30m", "queued_after": -5}, WatchOptions()),
        ({"long_after": True, "queued_after": float("nan")}, WatchOptions()),
        ({"late": {"at": "25:00"}}, WatchOptions()),
        ({"late": "09:00"}, WatchOptions()),
        (
            {"late": {"at": "09:00", "zone": "Mars/Base", "days": ["mon", "funday", 3]}},
            WatchOptions(late=Deadline(at=time(9, 0), zone="UTC", days=frozenset({0}))),
        ),
        (
            {"late": {"at": "09:00", "days": [], "window_seconds": "x"}},
            WatchOptions(late=Deadline(at=time(9, 0))),
        ),
        ([1, 2], WatchOptions()),
        ("not json", WatchOptions()),
        (42, WatchOptions()),
    ],
)
def test_a_bad_stored_value_is_the_default_not_a_crash(raw: object, read: WatchOptions) -> None:
    assert options_from_json(raw) == read
