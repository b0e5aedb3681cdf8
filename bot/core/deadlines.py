"""When a ``late`` deadline falls: a wall-clock time in a zone, on some days of the week.

Kept apart and pure, so that the awkward days (a deadline inside a daylight-saving gap, on the
days the clocks change, on days it does not apply) are tested on their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Deadline

# How long after a deadline the bot still checks it: a process that was down at 09:00 (a
# deploy, an outage) and back by 10:00 still tells who is late; later than that, it would be
# news from the past, and the next deadline comes.
GRACE_SECONDS = 3600.0


def last_deadline(deadline: Deadline, now: datetime) -> datetime | None:
    """The latest instant at or before ``now`` (UTC) at which ``deadline`` fell, or None when
    it fell on none of the last eight days (it has no days)."""
    zone = ZoneInfo(deadline.zone)
    today = now.astimezone(zone).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() not in deadline.days:
            continue
        at = _instant(deadline, day, zone)
        if at <= now:
            return at
    return None


def ahead(deadline: Deadline, now: datetime, *, lead: float) -> datetime | None:
    """The next instant after ``now`` (UTC) at which ``deadline`` falls, if it falls within
    ``lead`` seconds; None otherwise."""
    zone = ZoneInfo(deadline.zone)
    today = now.astimezone(zone).date()
    for forward in range(8):
        day = today + timedelta(days=forward)
        if day.weekday() not in deadline.days:
            continue
        at = _instant(deadline, day, zone)
        if at > now:
            return at if (at - now).total_seconds() <= lead else None
    return None


def due(deadline: Deadline, now: datetime, *, since: datetime | None) -> datetime | None:
    """The deadline to check now, if any: the last one, unless it fell more than the grace
    ago or before ``since`` (a subscription made after it starts with the next one)."""
    at = last_deadline(deadline, now)
    if at is None or (now - at).total_seconds() > GRACE_SECONDS:
        return None
    if since is not None and at <= since:
        return None
    return at


def shown(deadline: Deadline, at: datetime) -> str:
    """The deadline as its subscribers set it: ``09:00 Europe/Berlin``."""
    return f"{at.astimezone(ZoneInfo(deadline.zone)).strftime('%H:%M')} {deadline.zone}"


def _instant(deadline: Deadline, day: date, zone: ZoneInfo) -> datetime:
    """The deadline on ``day``, in UTC. A time inside a daylight-saving gap does not exist:
    fold=0 reads it with the offset before the change, so it falls the moment the clocks jump."""
    return datetime.combine(day, deadline.at, tzinfo=zone).astimezone(UTC)
