"""The `subscriptions:` section: channels that watch a deployment's DAGs, kept as code.

Each entry names a channel, a deployment, DAG id patterns and events (`failed` when none is
named), and the limits of the events that take one: `long_after`, `queued_after` and `late`
(`at`, `timezone`, `days`). Slack users cannot remove these with `/airflow unsubscribe`; the
file is their home.
"""

from __future__ import annotations

from datetime import time

from bot.config.checker import Checker, did_you_mean, key_path, kind_of, show
from bot.config.deployments import deployment_ref
from bot.config.model import (
    DEFAULT_EVENTS,
    DEFAULT_QUEUED_AFTER,
    EVENTS,
    WEEKDAYS,
    Deadline,
    Subscription,
    WatchOptions,
)
from bot.config.slack_ids import CHANNEL, slack_id
from bot.config.times import ALL_DAYS, TimeError, parse_duration, parse_time_of_day, parse_zone

__all__ = ["check_subscriptions"]

_KEYS = ("channel", "deployment", "dags", "events", "long_after", "queued_after", "late")
_LATE_KEYS = ("at", "timezone", "days")
_LATE_EXAMPLE = '{at: "09:00", timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri]}'
# The keys that set an event's limit, and the event each belongs to.
_LIMITS = {"long_after": "long", "queued_after": "queued", "late": "late"}
_EXAMPLE = '[{channel: C0ALERTS1, deployment: prod, dags: ["etl_*"], events: [failed]}]'


def check_subscriptions(
    c: Checker, raw: object, deployment_names: set[str]
) -> tuple[Subscription, ...]:
    if raw is None:
        return ()
    items = c.sequence("subscriptions", raw, _EXAMPLE)
    found: list[Subscription] = []
    for index, item in enumerate(items or []):
        path = f"subscriptions[{index}]"
        fields = c.mapping(path, item, "a mapping with channel, deployment and dags")
        if fields is None:
            continue
        c.known_keys(path, fields, _KEYS)
        channel = None
        if "channel" not in fields:
            c.problem(path, "needs channel: the ID of the channel to post in, like C0ALERTS1")
        else:
            channel = slack_id(c, key_path(path, "channel"), fields["channel"], CHANNEL)
        deployment = deployment_ref(c, key_path(path, "deployment"), fields.get("deployment"),
                                    deployment_names)  # fmt: skip
        globs = _globs(c, key_path(path, "dags"), fields.get("dags"))
        events = _events(c, key_path(path, "events"), fields.get("events"))
        options = _options(c, path, fields, events)
        if channel and deployment and globs and events and options:
            found += [Subscription(channel, deployment, glob, events, options) for glob in globs]
    return tuple(found)


def _globs(c: Checker, path: str, raw: object) -> list[str]:
    if raw is None:
        c.problem(path, 'required: DAG ids or patterns, like ["etl_*"] (["*"] for every DAG)')
        return []
    items = c.sequence(path, raw, '["etl_*"]') or []
    globs = []
    for index, item in enumerate(items):
        glob = c.string(f"{path}[{index}]", item)
        if glob == "":
            c.problem(f"{path}[{index}]", 'is empty; write a DAG id or a pattern like "etl_*"')
        elif glob is not None:
            globs.append(glob)
    if not items:
        c.problem(path, 'is empty, which watches nothing; write ["*"] for every DAG')
    return globs


def _events(c: Checker, path: str, raw: object) -> frozenset[str]:
    if raw is None:
        return DEFAULT_EVENTS
    items = c.sequence(path, raw, "[failed, success]") or []
    events = set()
    for index, item in enumerate(items):
        event = c.string(f"{path}[{index}]", item)
        if event in EVENTS:
            events.add(event)
        elif event is not None:
            hint = did_you_mean(event, EVENTS) or f" (events: {', '.join(EVENTS)})"
            c.problem(f"{path}[{index}]", f"unknown event {show(event)}{hint}")
    if not items:
        c.problem(path, f"is empty; leave it out for failed, or name some of {', '.join(EVENTS)}")
    return frozenset(events)


def _options(
    c: Checker, path: str, fields: dict[object, object], events: frozenset[str]
) -> WatchOptions | None:
    """The limits of ``long``, ``queued`` and ``late``; None when one cannot be read."""
    before = len(c.problems)
    named = events or frozenset(_named_events(fields.get("events")))
    for key, event in _LIMITS.items():
        if key in fields and event not in named:
            c.problem(
                key_path(path, key),
                f"is the limit of the {event} event, which events does not name: "
                f"add {event} to events, or leave {key} out",
            )
    if "late" in named and "late" not in fields:
        c.problem(path, f"events names late, which needs late: {_LATE_EXAMPLE}")
    long_after = _duration(c, key_path(path, "long_after"), fields.get("long_after"))
    queued_after = _duration(c, key_path(path, "queued_after"), fields.get("queued_after"))
    late = _late(c, key_path(path, "late"), fields["late"]) if "late" in fields else None
    if len(c.problems) > before:
        return None
    return WatchOptions(
        long_after=long_after,
        queued_after=DEFAULT_QUEUED_AFTER if queued_after is None else queued_after,
        late=late,
    )


def _named_events(raw: object) -> list[str]:
    # Where events has a mistake of its own, the limits are still checked against the rest.
    return [e for e in raw if isinstance(e, str)] if isinstance(raw, list) else []


def _duration(c: Checker, path: str, raw: object) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        c.problem(path, f"must be a duration like 2h, 30m or 1h30m, got {kind_of(raw)}")
        return None
    text = c.string(path, raw)
    if text is None:
        return None
    try:
        return parse_duration(text)
    except TimeError as err:
        c.problem(path, _message(err))
        return None


def _late(c: Checker, path: str, raw: object) -> Deadline | None:
    fields = c.mapping(path, raw, f"a mapping like {_LATE_EXAMPLE}")
    if fields is None:
        return None
    c.known_keys(path, fields, _LATE_KEYS)
    at = _at(c, key_path(path, "at"), fields.get("at"))
    zone = "UTC"
    if fields.get("timezone") is not None:
        zone_path = key_path(path, "timezone")
        text = c.string(zone_path, fields["timezone"])
        try:
            zone = parse_zone(text) if text is not None else ""
        except TimeError as err:
            c.problem(zone_path, _message(err))
            zone = ""
    days = _days(c, key_path(path, "days"), fields.get("days"))
    if at is None or not zone or days is None:
        return None
    return Deadline(at=at, zone=zone, days=days)


def _at(c: Checker, path: str, raw: object) -> time | None:
    if raw is None:
        c.problem(path, 'required: the time of day, like at: "09:00" (24-hour, in quotes)')
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        # YAML 1.1 reads an unquoted 18:30 as a number of minutes (sexagesimal): 1110.
        meant = f"{raw // 60:02d}:{raw % 60:02d}" if 0 <= raw < 24 * 60 else "09:00"
        c.problem(path, f'must be in quotes, like at: "{meant}": unquoted, YAML reads a number')
        return None
    text = c.string(path, raw)
    if text is None:
        return None
    try:
        return parse_time_of_day(text)
    except TimeError as err:
        c.problem(path, _message(err))
        return None


def _days(c: Checker, path: str, raw: object) -> frozenset[int] | None:
    if raw is None:
        return ALL_DAYS
    items = c.sequence(path, raw, "[mon, tue, wed, thu, fri]")
    if items is None:
        return None
    if not items:
        c.problem(path, "is empty, so it is never late; leave it out for every day")
        return None
    days: set[int] = set()
    ok = True
    for index, item in enumerate(items):
        day = c.string(f"{path}[{index}]", item)
        if day is not None and day.lower() in WEEKDAYS:
            days.add(WEEKDAYS.index(day.lower()))
            continue
        ok = False
        if day is not None:
            hint = did_you_mean(day.lower(), WEEKDAYS) or f" (days: {', '.join(WEEKDAYS)})"
            c.problem(f"{path}[{index}]", f"unknown day {show(day)}{hint}")
    return frozenset(days) if ok else None


def _message(err: TimeError) -> str:
    """A refusal from times.py as the file's problems read: values quoted like the rest, and
    no Slack code spans."""
    return err.explain(show).replace("`", "")
