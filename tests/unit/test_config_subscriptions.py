"""The config's ``subscriptions:``: the events each declared subscription posts, and the limits
of ``long``, ``queued`` and ``late`` (``long_after``, ``queued_after``, ``late:``)."""

from __future__ import annotations

from datetime import time

from bot.config import Deadline, Subscription, WatchOptions
from tests.unit.test_config import MINIMAL, parse, problems

# As INTERFACE.md's config example writes it (less digest, which is not an event yet).
DOCUMENTED = """\
subscriptions:
  - channel: C0ALERTS1
    deployment: prod
    dags: ["etl_*"]
    events: [failed, hitl, long, queued, late, import_errors]
    long_after: 2h                        # optional; default twice the usual duration
    queued_after: 15m                     # optional; default 15m
    late: {at: "09:00", timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri]}
"""


def entry(body: str) -> str:
    """A config with one subscription: channel, deployment and dags, then ``body``."""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return (
        MINIMAL
        + f'subscriptions:\n  - channel: C0ALERTS1\n    deployment: prod\n    dags: ["*"]\n{lines}'
    )


def test_the_documented_subscription_loads_with_its_limits() -> None:
    (sub,) = parse(MINIMAL + DOCUMENTED).subscriptions
    assert sub == Subscription(
        channel_id="C0ALERTS1",
        deployment="prod",
        dag_glob="etl_*",
        events=frozenset({"failed", "hitl", "long", "queued", "late", "import_errors"}),
        options=WatchOptions(
            long_after=7200.0,
            queued_after=900.0,
            late=Deadline(at=time(9, 0), zone="Europe/Berlin", days=frozenset(range(5))),
        ),
    )


def test_limits_have_defaults() -> None:
    (sub,) = parse(entry("events: [long, queued, late]\nlate: {at: '18:30'}")).subscriptions
    assert sub.options == WatchOptions(late=Deadline(at=time(18, 30), zone="UTC"))
    (plain,) = parse(entry("events: [failed]")).subscriptions
    assert plain.options == WatchOptions()
    (spelt,) = parse(
        entry("events: [late]\nlate: {at: '7:05', timezone: europe/berlin, days: [Sat, SUN]}")
    ).subscriptions
    assert spelt.options.late == Deadline(
        at=time(7, 5), zone="Europe/Berlin", days=frozenset({5, 6})
    )


def test_an_event_s_limit_needs_the_event() -> None:
    assert problems(entry("long_after: 2h")) == [
        "subscriptions[0].long_after: is the limit of the long event, which events does not "
        "name: add long to events, or leave long_after out"
    ]
    assert problems(entry("events: [failed]\nqueued_after: 5m\nlate: {at: '09:00'}")) == [
        "subscriptions[0].queued_after: is the limit of the queued event, which events does "
        "not name: add queued to events, or leave queued_after out",
        "subscriptions[0].late: is the limit of the late event, which events does not name: "
        "add late to events, or leave late out",
    ]


def test_late_in_events_needs_late() -> None:
    assert problems(entry("events: [late]")) == [
        'subscriptions[0]: events names late, which needs late: {at: "09:00", timezone: '
        "Europe/Berlin, days: [mon, tue, wed, thu, fri]}"
    ]


def test_bad_durations_are_named_with_the_right_form() -> None:
    found = problems(entry("events: [long, queued]\nlong_after: 5x\nqueued_after: 0m"))
    assert found == [
        "subscriptions[0].long_after: '5x' is not a duration: write a number and a unit, like "
        "90s, 30m, 2h or 1h30m",
        "subscriptions[0].queued_after: '0m' is no time at all: write a positive duration, "
        "like 30m",
    ]
    assert problems(entry("events: [long]\nlong_after: 3600")) == [
        "subscriptions[0].long_after: must be a duration like 2h, 30m or 1h30m, got a number"
    ]


def test_bad_deadlines_are_named_with_the_right_form() -> None:
    found = problems(
        entry(
            "events: [late]\n"
            "late: {at: '25:00', timezone: Mars/Base, days: [mon, tues, funday], when: x}"
        )
    )
    assert found == [
        "subscriptions[0].late: unknown key 'when'; expected one of at, timezone, days",
        "subscriptions[0].late.at: '25:00' is not a time of day: write a 24-hour time, like "
        "09:00 or 17:30 (00:00 to 23:59)",
        "subscriptions[0].late.timezone: 'Mars/Base' is not a time zone: write an IANA time "
        "zone, like Europe/Berlin or America/New_York (UTC when left out)",
        "subscriptions[0].late.days[1]: unknown day 'tues' (did you mean 'tue'?)",
        "subscriptions[0].late.days[2]: unknown day 'funday' (days: mon, tue, wed, thu, fri, "
        "sat, sun)",
    ]


def test_an_unquoted_time_that_yaml_reads_as_a_number_is_said_so() -> None:
    assert problems(entry("events: [late]\nlate: {at: 18:30}")) == [
        'subscriptions[0].late.at: must be in quotes, like at: "18:30": unquoted, YAML reads '
        "a number"
    ]
    (sub,) = parse(entry("events: [late]\nlate: {at: 09:00}")).subscriptions  # a string
    assert sub.options.late == Deadline(at=time(9, 0))


def test_late_must_be_a_mapping_with_a_time_and_some_days() -> None:
    assert problems(entry("events: [late]\nlate: '09:00'")) == [
        'subscriptions[0].late: must be a mapping like {at: "09:00", timezone: Europe/Berlin, '
        "days: [mon, tue, wed, thu, fri]}, got text"
    ]
    assert problems(entry("events: [late]\nlate: {timezone: UTC, days: []}")) == [
        'subscriptions[0].late.at: required: the time of day, like at: "09:00" (24-hour, in '
        "quotes)",
        "subscriptions[0].late.days: is empty, so it is never late; leave it out for every day",
    ]


def test_a_misspelt_key_or_event_is_named() -> None:
    found = problems(entry("events: [long, queud]\nlong_afer: 2h"))
    assert found == [
        "subscriptions[0]: unknown key 'long_afer' (did you mean 'long_after'?); expected one "
        "of channel, deployment, dags, events, long_after, queued_after, late",
        "subscriptions[0].events[1]: unknown event 'queud' (did you mean 'queued'?)",
    ]
