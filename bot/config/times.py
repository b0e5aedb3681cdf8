"""Durations (``90s``, ``30m``, ``1h30m``) and daily deadlines (``09:00/Europe/Berlin``): read
from what a user typed in Slack or wrote in the config, shown back in the same short form, and
kept in the store as JSON.

A value that cannot be read raises `TimeError` (a ``ValueError``): it says what was wrong and
the right form, and quotes the value the way its caller asks (`TimeError.explain`), since the
parser answers in Slack (code spans, escaped) and the config checker in a terminal.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import time
from typing import Any

from bot.config.model import DEFAULT_QUEUED_AFTER, WEEKDAYS, Deadline, WatchOptions

__all__ = [
    "ALL_DAYS",
    "DURATION_FORM",
    "MAX_DURATION",
    "TIME_FORM",
    "ZONE_FORM",
    "TimeError",
    "options_from_json",
    "options_to_json",
    "parse_deadline",
    "parse_duration",
    "parse_time_of_day",
    "parse_zone",
    "show_days",
    "show_deadline",
    "show_duration",
]

ALL_DAYS = frozenset(range(7))
MAX_DURATION = 366 * 86400.0  # past a year, a limit is a typo (and a huge number overflows)
DURATION_FORM = "write a number and a unit, like `90s`, `30m`, `2h` or `1h30m`"
TIME_FORM = "write a 24-hour time, like `09:00` or `17:30`"
ZONE_FORM = (
    "write an IANA time zone, like `Europe/Berlin` or `America/New_York` (UTC when left out)"
)

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
# Each unit at most once, largest first: ``1h30m``, ``2d12h``; not ``30m1h``.
_DURATION = re.compile(r"(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
# What an IANA name is made of; anything else (a path, a NUL) never reaches the file system.
_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_ZONE_MAX = 64
_DAY_NAMES = tuple(day.capitalize() for day in WEEKDAYS)


class TimeError(ValueError):
    """``value`` is not what was asked for: ``problem`` says why, ``form`` how to write it."""

    def __init__(self, value: str, problem: str, form: str) -> None:
        self.value, self.problem, self.form = value, problem, form
        super().__init__(self.explain(lambda v: "`" + v.replace("`", "'") + "`"))

    def explain(self, quote: Callable[[str], str]) -> str:
        """The message, with the value as ``quote`` shows it (a Slack code span, say)."""
        return f"{quote(self.value)} {self.problem}: {self.form}"


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``90s``, ``30m``, ``2h``, ``1d``, or combined, ``1h30m``."""
    shown = text.strip()
    match = _DURATION.fullmatch(shown.lower())
    if not shown or match is None:
        raise TimeError(shown, "is not a duration", DURATION_FORM)
    seconds = sum(int(n) * size for n, (_, size) in zip(match.groups(), _UNITS, strict=True) if n)
    if seconds <= 0:
        raise TimeError(shown, "is no time at all", "write a positive duration, like `30m`")
    if seconds > MAX_DURATION:
        raise TimeError(shown, "is too long", "write at most a year, like `366d`")
    return float(seconds)


def show_duration(seconds: float) -> str:
    """The short form of ``seconds``, as `parse_duration` reads it: ``30m``, ``1h30m``."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_time_of_day(text: str) -> time:
    """``HH:MM`` on a 24-hour clock (``9:00`` too)."""
    shown = text.strip()
    match = _TIME.fullmatch(shown)
    if match is None:
        raise TimeError(shown, "is not a time of day", TIME_FORM)
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise TimeError(shown, "is not a time of day", f"{TIME_FORM} (`00:00` to `23:59`)")
    return time(hour, minute)


def parse_zone(text: str) -> str:
    """An IANA time zone's name, as the system's zone database spells it (``europe/berlin``
    is ``Europe/Berlin``)."""
    shown = text.strip()
    if not shown or len(shown) > _ZONE_MAX or not _ZONE.fullmatch(shown):
        raise TimeError(shown, "is not a time zone", ZONE_FORM)
    if _loads(shown):
        return shown
    spelt = _zones_by_lowercase().get(shown.lower())
    if spelt is not None and _loads(spelt):
        return spelt
    close = difflib.get_close_matches(shown, sorted(_zones_by_lowercase().values()), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    raise TimeError(shown, "is not a time zone", ZONE_FORM + hint)


def parse_deadline(text: str, days: frozenset[int] = ALL_DAYS) -> Deadline:
    """``HH:MM[/<zone>]``: that time each day of ``days`` (Monday 0), in UTC unless a zone is
    named."""
    shown = text.strip()
    at, slash, zone = shown.partition("/")
    if slash and not zone:
        raise TimeError(shown, "names no time zone after `/`", ZONE_FORM)
    return Deadline(at=parse_time_of_day(at), zone=parse_zone(zone) if slash else "UTC", days=days)


def show_days(days: frozenset[int]) -> str:
    """``Mon–Fri`` (an en dash), ``Mon, Wed, Fri``, ``Sat, Sun``; empty for every day."""  # noqa: RUF002
    if days >= ALL_DAYS or not days:
        return ""
    ordered = sorted(d for d in days if 0 <= d < 7)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{_DAY_NAMES[run[0]]}–{_DAY_NAMES[run[-1]]}")
        else:
            parts += [_DAY_NAMES[d] for d in run]
    return ", ".join(parts)


def show_deadline(deadline: Deadline) -> str:
    """``09:00 Europe/Berlin, Mon–Fri``, or ``09:00 UTC`` for every day."""  # noqa: RUF002
    shown = f"{deadline.at.strftime('%H:%M')} {deadline.zone}"
    days = show_days(deadline.days)
    return f"{shown}, {days}" if days else shown


# -- the store: subscription.options -------------------------------------------------------------


def options_to_json(options: WatchOptions) -> dict[str, Any] | None:
    """What the store keeps of ``options``: only what differs from the defaults, None for
    none. ``{"long_after": 1800, "queued_after": 600, "late": {"at": "09:00", "zone":
    "Europe/Berlin", "days": ["mon", ...]}}``; ``days`` left out for every day."""
    found: dict[str, Any] = {}
    if options.long_after is not None:
        found["long_after"] = options.long_after
    if options.queued_after != DEFAULT_QUEUED_AFTER:
        found["queued_after"] = options.queued_after
    if options.late is not None:
        late = options.late
        stored: dict[str, Any] = {"at": late.at.strftime("%H:%M"), "zone": late.zone}
        if late.days != ALL_DAYS:
            stored["days"] = [WEEKDAYS[d] for d in sorted(late.days) if 0 <= d < 7]
        if late.window_seconds != Deadline.window_seconds:
            stored["window_seconds"] = late.window_seconds
        found["late"] = stored
    return found or None


def options_from_json(raw: object) -> WatchOptions:
    """The options the store kept (`options_to_json`). Tolerant: unknown keys are ignored, and
    a value that cannot be read (an older or hand-edited row) is the default, so that one bad
    row never stops a deployment's watch."""
    if isinstance(raw, str):  # a driver that hands JSON back as text
        try:
            raw = json.loads(raw)
        except ValueError:
            return WatchOptions()
    if not isinstance(raw, Mapping):
        return WatchOptions()
    return WatchOptions(
        long_after=_stored_seconds(raw.get("long_after")),
        queued_after=_stored_seconds(raw.get("queued_after")) or DEFAULT_QUEUED_AFTER,
        late=_stored_deadline(raw.get("late")),
    )


def _stored_seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and 0 < seconds <= MAX_DURATION else None


def _stored_deadline(value: object) -> Deadline | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("at"), str):
        return None
    try:
        at = parse_time_of_day(value["at"])
    except TimeError:
        return None
    zone = value.get("zone")
    try:
        zone = parse_zone(zone) if isinstance(zone, str) else "UTC"
    except TimeError:
        zone = "UTC"
    raw_days = value.get("days")
    days = ALL_DAYS
    if isinstance(raw_days, list):
        named = frozenset(WEEKDAYS.index(d) for d in raw_days if d in WEEKDAYS)
        days = named or ALL_DAYS
    window = _stored_seconds(value.get("window_seconds")) or Deadline.window_seconds
    return Deadline(at=at, zone=zone, days=days, window_seconds=window)


def _loads(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@functools.cache
def _zones_by_lowercase() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}
