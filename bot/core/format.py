"""How Airflow values read in Slack: states, times, durations.

Code spans and escaping are bot/core/reply.py's (``code``, ``escape``): one helper each.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.reply import escape

__all__ = ["duration", "state", "when"]

STATE_ICONS = {
    "success": ":white_check_mark:",
    "failed": ":x:",
    "running": ":arrows_counterclockwise:",
    "queued": ":hourglass_flowing_sand:",
    "up_for_retry": ":repeat:",
    "upstream_failed": ":warning:",
    "skipped": ":fast_forward:",
}


def state(value: str) -> str:
    # The state comes from Airflow: escaped like any other value it sends.
    return f"{STATE_ICONS.get(value, ':grey_question:')} {escape(value)}"


def when(value: datetime | None) -> str:
    """A time in UTC, to the minute; Slack users sit in every time zone."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
