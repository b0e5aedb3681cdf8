"""The sharing set's table and chart (issue 19): 500 commands at once with Airflow at 5 s, ours
and today's code with one and two processes, the Bolt default, and the floor for the acks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.ack_report import fmt_ms, percentile
from bench.ack_scenarios import SAME, SPREAD, Result
from bench.ack_subjects import BASELINE, FLOOR, OURS, SUBJECT_LABELS, TODAY
from bench.report import markdown_table, pyplot

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
    "p50 / p99 ack ms",
    "acks over 3 s",
    "answered within the goal",
    "last answer s",
    "Airflow calls",
    "peak RSS of a worker, MiB",
    "load at start",
]


def label(r: Result) -> str:
    return f"{SUBJECT_LABELS[r.scenario.subject]}, {r.scenario.processes} proc."


def last_answer(r: Result) -> float | None:
    """Seconds from the burst's start to its last answer; None unless all were answered."""
    answers = r.answer_seconds()
    if not r.answers or r.answered() < len(r.commands) or not answers:
        return None
    return answers[-1]


def row(r: Result) -> list[str]:
    s = r.scenario
    acks = r.ack_ms
    n = len(r.commands)
    errors = r.failed()
    goal = s.goal or math.inf
    if r.answers:
        within = r.answered_within(goal)
        answered = f"{within / n:.0%} ({within}/{n}) in {goal:.0f} s"
        last = last_answer(r)
        last_text = (
            f"{last:.1f}" if last is not None else f"- ({r.answered()}/{n} in {s.window:.0f} s)"
        )
    else:
        answered = last_text = "- (answers nothing)"
    return [
        KIND_LABELS[s.kind],
        SUBJECT_LABELS[s.subject],
        str(s.processes),
        f"{fmt_ms(percentile(acks, 50))} / {fmt_ms(percentile(acks, 99))}",
        f"{r.over_limit()}/{n}" + (f" ({errors})" if errors else ""),
        answered,
        last_text,
        f"{r.airflow_calls:,}" if r.answers else "-",
        f"{r.peak_rss_mib:.0f}",
        f"{r.load:.2f}",
    ]


def find(results: Sequence[Result], kind: str, subject: str, processes: int) -> Result | None:
    for r in results:
        s = r.scenario
        if (s.kind, s.subject, s.processes) == (kind, subject, processes):
            return r
    return None


def verdicts(results: Sequence[Result]) -> list[str]:
    """The goals, each said met or not, from this run's figures."""
    lines = []
    for kind in (SAME, SPREAD):
        for processes in (1, 2):
            r = find(results, kind, OURS, processes)
            if r is None or r.scenario.goal is None:
                continue
            last = last_answer(r)
            met = last is not None and last <= r.scenario.goal
            said = (
                f"{last:.1f} s"
                if last is not None
                else f"{r.answered()}/{len(r.commands)} answered"
            )
            lines.append(
                f"- {KIND_LABELS[kind]}, ours with {processes} process"
                f"{'es' if processes > 1 else ''}: last answer {said} "
                f"(goal {r.scenario.goal:.0f} s): {'met' if met else 'not met'}."
            )
    two, one = find(results, SAME, OURS, 2), find(results, SAME, OURS, 1)
    if two is not None:
        p99 = percentile(two.ack_ms, 99)
        lines.append(
            f"- Ours with 2 processes, burst of 500: p99 ack {fmt_ms(p99)} ms (goal under "
            f"{ACK_GOAL_MS:.0f} ms): {'met' if p99 < ACK_GOAL_MS else 'not met'}"
            + (f"; with 1 process {fmt_ms(percentile(one.ack_ms, 99))} ms." if one else ".")
        )
    for kind in (SAME, SPREAD):
        a, b = find(results, kind, OURS, 1), find(results, kind, OURS, 2)
        if a is None or b is None:
            continue
        la, lb = last_answer(a), last_answer(b)
        if la is not None and lb is not None:
            later = "later" if lb > la else "no later"
            lines.append(
                f"- {KIND_LABELS[kind]}: with 2 processes the last answer came {later} than "
                f"with 1 ({lb:.1f} s against {la:.1f} s)."
            )
    return lines


def sharing_section(results: Sequence[Result], today_commit: str) -> list[str]:
    if not results:
        return []
    return [
        "## 500 at once with Airflow at 5 s: shared reads, one budget, one or two processes",
        "",
        markdown_table(HEADERS, [row(r) for r in results], numeric=range(2, len(HEADERS))),
        "",
        *verdicts(results),
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
        "(`bot/airflow/sharing.py`), one budget of 16 for both processes "
        "(`bot/airflow/budget.py`), and commands waiting for Airflow step aside in the "
        "worker pool (`bot/core/workers.py`). *Bolt default*: `bench/baseline_bolt_app.py`, "
        "one call per command (`GET /dags` with the filter, or the DAG's runs), 5 listener "
        "threads. *floor*: `bench/floor_app.py` answers 200 and nothing else, under the same "
        "gunicorn settings: the acks' cost on this machine before any bot code runs.",
        "- *load at start*: the machine's 1-minute load average when the subject started; "
        "the machine (2 cores) is shared, and the load generator, the Slack stand-in, the "
        "proxy and Airflow run on it too.",
        "",
        "![time to the last answer, and p99 ack, per subject](ack_sharing.png)",
    ]


def write_sharing_chart(results: Sequence[Result], path: Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 5.2))
    runs = [(OURS, 1), (OURS, 2), (TODAY, 1), (TODAY, 2), (BASELINE, 1)]
    colours = ["#2a7ab9", "#7fb3dd", "#8a8a8a", "#c4c4c4", "#d9822b"]
    width = 0.16
    for i, ((subject, processes), colour) in enumerate(zip(runs, colours, strict=True)):
        values, texts = [], []
        for kind in (SAME, SPREAD):
            r = find(results, kind, subject, processes)
            last = last_answer(r) if r else None
            if r is None:
                values.append(math.nan)
                texts.append("")
            elif last is None:
                values.append(r.scenario.window)
                texts.append(f">{r.scenario.window:.0f}\n{r.answered() / len(r.commands):.0%}")
            else:
                values.append(last)
                texts.append(f"{last:.0f}")
        xs = [k + (i - 2) * width for k in range(2)]
        bars = left.bar(
            xs, values, width, color=colour, label=f"{SUBJECT_LABELS[subject]}, {processes}p"
        )
        left.bar_label(bars, labels=texts, fontsize=6)
    for k, kind in enumerate((SAME, SPREAD)):
        goal = 15.0 if kind == SAME else 60.0
        left.hlines(goal, k - 0.45, k + 0.45, colors="#c0392b", linestyles="--", linewidth=1)
        left.text(k + 0.45, goal, f" goal {goal:.0f} s", color="#c0392b", fontsize=7, va="bottom")
    left.set_yscale("log")
    left.set_ylabel("seconds from the burst to its last answer (log)")
    left.set_xticks(range(2), [KIND_LABELS[SAME], KIND_LABELS[SPREAD]], fontsize=8)
    left.set_title("Time to answer 500 commands, Airflow at 5 s", fontsize=10)
    left.legend(fontsize=6, loc="upper left")
    ack_runs = [*runs, (FLOOR, 1), (FLOOR, 2)]
    names, p99s = [], []
    for subject, processes in ack_runs:
        r = find(results, SAME, subject, processes)
        if r is not None:
            names.append(f"{subject}\n{processes}p")
            p99s.append(percentile(r.ack_ms, 99))
    bars = right.bar(range(len(p99s)), p99s, 0.6, color="#2a7ab9")
    right.bar_label(bars, labels=[fmt_ms(v) for v in p99s], fontsize=7)
    right.axhline(ACK_GOAL_MS, color="#c0392b", linestyle="--", linewidth=1)
    right.text(
        -0.4,
        ACK_GOAL_MS,
        " goal with 2 processes: 250 ms",
        color="#c0392b",
        fontsize=7,
        va="bottom",
    )
    right.set_yscale("log")
    right.set_ylabel("p99 ack, ms (log)")
    right.set_xticks(range(len(names)), names, fontsize=7)
    right.set_title("p99 ack of the burst of 500 identical lists", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
