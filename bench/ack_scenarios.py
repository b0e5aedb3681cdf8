"""What one run of the ack benchmark measures: a subject, a burst of commands, Airflow's delay.

Two sets. *classic*: bursts of ``/airflow list`` (1, 50, 500) at 0.1 s and 5 s, ours against
the Bolt default (and today's code, when asked for), under gunicorn's default number of
processes. *sharing* (issue 19): 500 commands at once with Airflow at 5 s, every subject with
one and with two processes: 500 identical ``list`` (goal: all answered within 15 s), and 500
``status``/``list`` spread over 50 DAGs (goal: within 60 s).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.ack_subjects import BASELINE, FLOOR, OURS, TODAY, make_subject
from bench.ack_traffic import (
    PROBES,
    SLACK_ACK_LIMIT,
    Command,
    answered_ok,
    new_commands,
    send_as_users,
    spread_texts,
    wait_for_answers,
    warm_up,
)
from bench.memory import read_memory
from bot.serve import gunicorn_conf
from bot.tools.localslack import SlackStandin
from testkit.delay_proxy import DelayProxy

ANSWER_WINDOW = 60.0
"""How long after a burst's start its answers are waited for."""
LONG_ANSWER_WINDOW = 400.0
"""The window of the bursts of 500 at a 5 s Airflow delay: at 16 Airflow calls in flight (the
default ``max_in_flight``) and two 5 s calls per ``list``, the bot before issue 19 needed about
320 s for all of them. Every subject gets it."""
SAME = "same"
"""Every command is ``/airflow list``: one question asked by everyone."""
SPREAD = "spread"
"""``status <dag>`` and ``list <dag>`` over 50 DAGs (``bench.ack_traffic.spread_texts``)."""
GOALS = {SAME: 15.0, SPREAD: 60.0}
"""Issue 19's goals for the sharing set: seconds from the burst's start to the last answer."""


@dataclass(frozen=True)
class Scenario:
    subject: str
    delay: float
    burst: int
    kind: str = SAME
    processes: int | None = None
    """gunicorn's WEB_CONCURRENCY; None: the settings' default (the classic set)."""
    round: int = 0
    """Which repetition (the sharing set measures ours and the floor several times)."""

    @property
    def window(self) -> float:
        return LONG_ANSWER_WINDOW if self.burst >= 500 and self.delay >= 5 else ANSWER_WINDOW

    @property
    def goal(self) -> float | None:
        return GOALS[self.kind] if self.processes is not None else None


def classic_scenarios(
    delays: list[float], bursts: list[int], subjects: list[str]
) -> list[Scenario]:
    return [
        Scenario(subject, float(delay), int(burst))
        for delay in delays
        for burst in bursts
        for subject in subjects
        if subject in (OURS, TODAY, BASELINE)
    ]


def sharing_scenarios(subjects: list[str], burst: int = 500, rounds: int = 1) -> list[Scenario]:
    """Ours and today's code with one and two processes, the Bolt default with one, and for
    the acks the floor with one and two. Ours and the floor, whose one and two processes
    differ by less than this shared machine's noise, ``rounds`` times, one round after another;
    the others, minutes apart from them, once. (``burst``: fewer, to try the benchmark out.)"""
    runs = [(OURS, 1), (OURS, 2), (TODAY, 1), (TODAY, 2), (BASELINE, 1), (FLOOR, 1), (FLOOR, 2)]
    return [
        Scenario(subject, 5.0, burst, kind, processes, n)
        for n in range(rounds)
        for kind in (SAME, SPREAD)
        for subject, processes in runs
        if subject in subjects
        and not (subject == FLOOR and kind == SPREAD)
        and (n == 0 or subject in (OURS, FLOOR))
    ]


@dataclass
class Result:
    scenario: Scenario
    commands: list[Command] = field(default_factory=list)
    seconds: float = 0.0
    probes: list[Command] = field(default_factory=list)
    """Commands sent one at a time after the burst was acknowledged, while it was in flight."""
    airflow_calls: int = 0
    """Requests that reached Airflow (the proxy) from the burst's start to the end."""
    load: float = 0.0
    """The machine's 1-minute load average when the scenario started."""
    peak_rss_mib: float = 0.0
    """The largest peak RSS (VmHWM) of the subject's worker processes."""

    @property
    def probe_ms(self) -> list[float]:
        return sorted(c.ack_seconds * 1000 for c in self.probes)

    @property
    def ack_ms(self) -> list[float]:
        return sorted(c.ack_seconds * 1000 for c in self.commands)

    def over_limit(self) -> int:
        """Acks that make Slack show the user an error: too late, or not a 200."""
        return sum(1 for c in self.commands if c.ack_seconds > SLACK_ACK_LIMIT or c.status != 200)

    def failed(self) -> str:
        """Acks Slack would not take, by kind: ``"495 were 404"``, ``"3 got no response"``."""
        kinds = Counter(c.status for c in self.commands if c.status != 200)
        return ", ".join(
            f"{count} got no response" if status is None else f"{count} were {status}"
            for status, count in sorted(kinds.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        )

    def answered(self) -> int:
        return sum(1 for c in self.commands if answered_ok(c))

    def answer_seconds(self) -> list[float]:
        return sorted(c.answer.at - c.sent_at for c in self.commands if c.answer is not None)

    def answered_within(self, seconds: float) -> int:
        return sum(
            1
            for c in self.commands
            if c.answer is not None and answered_ok(c) and c.answer.at - c.sent_at <= seconds
        )

    @property
    def answers(self) -> bool:
        """Whether the subject answers commands at all (the floor only acks)."""
        return self.scenario.subject != FLOOR


def run_scenario(
    scenario: Scenario,
    *,
    slack: SlackStandin,
    proxy: DelayProxy,
    workdir: Path,
    today_tree: Path | None = None,
) -> Result:
    subject = make_subject(
        scenario.subject,
        workdir=workdir,
        airflow_url=proxy.url,
        slack_api_url=slack.api_url,
        processes=scenario.processes,
        today_tree=today_tree,
    )
    load = os.getloadavg()[0]
    subject.start(ready_timeout=60)
    answers = scenario.subject != FLOOR
    try:
        proxy.delay = 0.0
        # With several processes, each must have made its first calls (API version, its own
        # JWT: a POST /auth/token each) before the burst, as a warmed-up single process has.
        processes = scenario.processes or gunicorn_conf.workers
        tokens_before = _token_fetches(proxy)

        def warmed() -> bool:
            return _token_fetches(proxy) - tokens_before >= processes

        several = answers and processes > 1
        warm_up(subject, slack, answers=answers, warmed=warmed if several else None)
        slack.reset()
        proxy.delay = scenario.delay
        texts = spread_texts(scenario.burst) if scenario.kind == SPREAD else []
        commands = new_commands(slack, scenario.burst, "B", texts)
        # The probes are the classic set's: in the sharing set they would be Airflow calls too.
        classic = scenario.processes is None
        probes = new_commands(slack, PROBES, "P") if scenario.burst >= 50 and classic else []
        calls_before = proxy.requests
        send_as_users(subject.url, commands, probes, timeout=scenario.window)
        began = min(c.sent_at for c in commands)
        if answers:
            wait_for_answers(slack, commands, began + scenario.window)
        peaks = [m.hwm for pid in subject.worker_pids() if (m := read_memory(pid))]
        return Result(
            scenario,
            commands,
            time.monotonic() - began,
            probes,
            airflow_calls=proxy.requests - calls_before,
            load=load,
            peak_rss_mib=max(peaks, default=0) / 1024,
        )
    finally:
        subject.kill()
        proxy.delay = 0.0


def _token_fetches(proxy: DelayProxy) -> int:
    """JWTs fetched through the proxy so far (each process of ours and of the Bolt default
    fetches its own on its first call to Airflow 3)."""
    return sum(1 for method, path in list(proxy.seen) if (method, path) == ("POST", "/auth/token"))
