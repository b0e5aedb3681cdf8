"""The sharing set's table and chart (issue 19): 500 commands at once with Airflow at 5 s, ours
and today's code with one and two processes, the Bolt default, and the floor for the acks."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.ack_report import fmt_ms, percentile
from bench.ack_scenarios import SAME, SPREAD, Result
from bench.ack_subjects import OURS, SUBJECT_LABELS
from bench.report import markdown_table

KIND_LABELS = {
    SAME: "500 identical `list`",
    SPREAD: "500 `status`/`list` over 50 DAGs",
}
ACK_GOAL_MS = 250.0
"""Issue 19's goal for two processes: a burst of 500 acknowledged with p99 under 250 ms."""
HEADERS = [
    "scenario",
    "subject",
    "processes",
    "runs",
    "p50 / p99 ack ms",
    "acks over 3 s",
    "answered within the goal",
    "last answer s",
    "Airflow calls",
    "peak RSS of a worker, MiB",
    "load at start",
]


@dataclass
class Runs:
    """A subject's runs of one scenario (several rounds for ours and the floor)."""

    kind: str
    subject: str
    processes: int
    results: list[Result]

    @property
    def goal(self) -> float:
        return self.results[0].scenario.goal or math.inf

    def p99s(self) -> list[float]:
        return sorted(percentile(r.ack_ms, 99) for r in self.results)

    def p50s(self) -> list[float]:
        return sorted(percentile(r.ack_ms, 50) for r in self.results)

    def lasts(self) -> list[float] | None:
        """Each run's last answer, sorted; None unless every run answered every command."""
        found = [last_answer(r) for r in self.results]
        return None if any(v is None for v in found) else sorted(v for v in found if v)


def runs_of(results: Sequence[Result]) -> list[Runs]:
    grouped: dict[tuple[str, str, int], list[Result]] = {}
    for r in results:
        s = r.scenario
        grouped.setdefault((s.kind, s.subject, s.processes or 1), []).append(r)
    return [Runs(k, s, p, rs) for (k, s, p), rs in grouped.items()]


def find(groups: Sequence[Runs], kind: str, subject: str, processes: int) -> Runs | None:
    for g in groups:
        if (g.kind, g.subject, g.processes) == (kind, subject, processes):
            return g
    return None


def last_answer(r: Result) -> float | None:
    """Seconds from the burst's start to its last answer; None unless all were answered."""
    answers = r.answer_seconds()
    if not r.answers or r.answered() < len(r.commands) or not answers:
        return None
    return answers[-1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float], show: Callable[[float], str]) -> str:
    """The median, and with several runs their range: ``538 (325-761)``."""
    if len(values) < 2 or show(min(values)) == show(max(values)):
        return show(median(values))
    return f"{show(median(values))} ({show(min(values))}-{show(max(values))})"


def row(g: Runs) -> list[str]:
    rs = g.results
    n = sum(len(r.commands) for r in rs)
    over = sum(r.over_limit() for r in rs)
    errors = ", ".join(e for r in rs if (e := r.failed()))
    if rs[0].answers:
        within = sum(r.answered_within(g.goal) for r in rs)
        answered = f"{within / n:.0%} ({within:,}/{n:,}) in {g.goal:.0f} s"
        lasts = g.lasts()
        if lasts is not None:
            last_text = spread(lasts, lambda v: f"{v:.1f}")
        else:
            r = rs[0]
            last_text = f"- ({r.answered()}/{len(r.commands)} in {r.scenario.window:.0f} s)"
        calls = spread([float(r.airflow_calls) for r in rs], lambda v: f"{v:,.0f}")
    else:
        answered = last_text = "- (answers nothing)"
        calls = "-"
    loads = [r.load for r in rs]
    return [
        KIND_LABELS[g.kind],
        SUBJECT_LABELS[g.subject],
        str(g.processes),
        str(len(rs)),
        f"{fmt_ms(median(g.p50s()))} / {spread(g.p99s(), fmt_ms)}",
        f"{over}/{n:,}" + (f" ({errors})" if errors else ""),
        answered,
        last_text,
        calls,
        f"{max(r.peak_rss_mib for r in rs):.0f}",
        f"{min(loads):.2f}-{max(loads):.2f}" if len(loads) > 1 else f"{loads[0]:.2f}",
    ]


def verdicts(groups: Sequence[Runs]) -> list[str]:
    """The goals, each said met or not, from this run's medians."""
    lines = []
    for kind in (SAME, SPREAD):
        for processes in (1, 2):
            g = find(groups, kind, OURS, processes)
            if g is None:
                continue
            lasts = g.lasts()
            said = f"{median(lasts):.1f} s" if lasts else "not all answered"
            met = bool(lasts) and median(lasts or []) <= g.goal
            lines.append(
                f"- {KIND_LABELS[kind]}, ours with {processes} process"
                f"{'es' if processes > 1 else ''}: last answer {said} (median of "
                f"{len(g.results)}; goal {g.goal:.0f} s): {'met' if met else 'not met'}."
            )
    two, one = find(groups, SAME, OURS, 2), find(groups, SAME, OURS, 1)
    if two is not None:
        p99 = median(two.p99s())
        lines.append(
            f"- Ours with 2 processes, burst of 500: p99 ack {fmt_ms(p99)} ms (median; goal "
            f"under {ACK_GOAL_MS:.0f} ms): {'met' if p99 < ACK_GOAL_MS else 'not met'}"
            + (f"; with 1 process {fmt_ms(median(one.p99s()))} ms." if one else ".")
        )
    for kind in (SAME, SPREAD):
        a, b = find(groups, kind, OURS, 1), find(groups, kind, OURS, 2)
        la, lb = (a.lasts() if a else None), (b.lasts() if b else None)
        if la and lb:
            later = "later" if round(median(lb), 1) > round(median(la), 1) else "no later"
            lines.append(
                f"- {KIND_LABELS[kind]}: with 2 processes the last answer came {later} than "
                f"with 1 (medians {median(lb):.1f} s against {median(la):.1f} s)."
            )
    return lines


def sharing_section(results: Sequence[Result], today_commit: str) -> list[str]:
    if not results:
        return []
    groups = runs_of(results)
    return [
        "## 500 at once with Airflow at 5 s: shared reads, one budget, one or two processes",
        "",
        markdown_table(HEADERS, [row(g) for g in groups], numeric=range(2, len(HEADERS))),
        "",
        *verdicts(groups),
        "",
        "- *500 identical `list`*: every command is `/airflow list` (two Airflow calls each: "
        "the page, and its DAGs' last runs). *500 `status`/`list` over 50 DAGs*: in each "
        "round of 50 commands one for each of 50 DAGs (`wide_00`..`wide_49`, one run each), "
        "`status <dag>` and `list <dag>` in alternate rounds: 100 different commands, each "
        "sent 5 times; ours needs 150 different reads for them (a status: the runs; a list: "
        "the page, then the last run).",
        "- *answered within the goal*: answers naming the command's DAG that reached the "
        "Slack stand-in within the goal, counted from the burst's start (15 s for the "
        "identical lists, 60 s for the spread); *last answer s*: when the last of the 500 "
        "came, or how many came within the 400 s window. *Airflow calls*: requests that "
        "reached the proxy in front of Airflow, 5 s each, at most 16 at once per deployment "
        "(`max_in_flight`) for ours and today's code. *peak RSS of a worker*: the largest "
        "`VmHWM` among the subject's gunicorn workers at the end (a burst's commands waiting "
        "for Airflow each hold a thread: up to 500).",
        f"- *today's code*: commit `{today_commit[:12]}`, the Procfile's `web` line on it: "
        "every command makes its own calls, and with two processes each has half the "
        "budget (8). *ours*: identical reads in flight shared within a process "
        "(`bot/airflow/sharing.py`) and between processes (`bot/airflow/dyno_reads.py`), "
        "one budget of 16 for both processes "
        "(`bot/airflow/budget.py`), and commands waiting for Airflow step aside in the "
        "worker pool (`bot/core/workers.py`). *Bolt default*: `bench/baseline_bolt_app.py`, "
        "one call per command (`GET /dags` with the filter, or the DAG's runs), 5 listener "
        "threads. *floor*: `bench/floor_app.py` answers 200 and nothing else, under the same "
        "gunicorn settings: the acks' cost on this machine before any bot code runs.",
        "- *runs*: ours and the floor are measured in several rounds, one after another (their "
        "one and two processes differ by less than this machine's noise): the table gives "
        "the median of the runs, and their range in brackets, and counts the acks and "
        "answers of all of them. The others, minutes apart from ours, are measured once.",
        "- *load at start*: the machine's 1-minute load average when the subject started; "
        "the machine (2 cores) is shared, and the load generator, the Slack stand-in, the "
        "proxy and Airflow run on it too.",
        "",
        "![time to the last answer, and p99 ack, per subject](ack_sharing.png)",
    ]
