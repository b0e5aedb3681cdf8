"""The sharing set's chart (bench/results/ack_sharing.png): time to the last answer per subject,
and the p99 ack of the burst, medians of the runs with their range as error bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.ack_report import fmt_ms
from bench.ack_scenarios import GOALS, SAME, SPREAD, Result
from bench.ack_sharing_report import ACK_GOAL_MS, KIND_LABELS, find, median, runs_of
from bench.ack_subjects import BASELINE, FLOOR, OURS, SUBJECT_LABELS, TODAY
from bench.report import pyplot

RUNS = [(OURS, 1), (OURS, 2), (TODAY, 1), (TODAY, 2), (BASELINE, 1)]
COLOURS = ["#2a7ab9", "#7fb3dd", "#8a8a8a", "#c4c4c4", "#d9822b"]


def _errors(values: Sequence[float]) -> tuple[float, float]:
    """How far the range of the runs reaches below and above their median."""
    if len(values) < 2:
        return 0.0, 0.0
    mid = median(values)
    return mid - min(values), max(values) - mid


def write_sharing_chart(results: Sequence[Result], path: Path) -> None:
    plt = pyplot()
    groups = runs_of(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 5.8))
    width = 0.16
    for i, ((subject, processes), colour) in enumerate(zip(RUNS, COLOURS, strict=True)):
        values, texts, below, above = [], [], [], []
        for kind in (SAME, SPREAD):
            g = find(groups, kind, subject, processes)
            lasts = g.lasts() if g else None
            low = high = 0.0
            if g is None:
                values.append(math.nan)
                texts.append("")
            elif not lasts:
                r = g.results[0]
                values.append(r.scenario.window)
                texts.append(f">{r.scenario.window:.0f}\n{r.answered() / len(r.commands):.0%}")
            else:
                values.append(median(lasts))
                texts.append(f"{median(lasts):.0f}")
                low, high = _errors(lasts)
            below.append(low)
            above.append(high)
        xs = [k + (i - 2) * width for k in range(2)]
        bars = left.bar(
            xs,
            values,
            width,
            yerr=[below, above],
            capsize=2,
            color=colour,
            label=f"{SUBJECT_LABELS[subject]}, {processes}p",
        )
        left.bar_label(bars, labels=texts, fontsize=6)
    for k, kind in enumerate((SAME, SPREAD)):
        goal = GOALS[kind]
        left.hlines(goal, k - 0.45, k + 0.45, colors="#c0392b", linestyles="--", linewidth=1)
        left.text(k + 0.45, goal, f" goal {goal:.0f} s", color="#c0392b", fontsize=7, va="bottom")
    left.set_yscale("log")
    left.set_ylabel("seconds from the burst to its last answer (log)")
    left.set_xticks(range(2), [KIND_LABELS[SAME], KIND_LABELS[SPREAD]], fontsize=8)
    left.set_title("Time to answer 500 commands, Airflow at 5 s", fontsize=10)
    left.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)

    names, p99s, below, above = [], [], [], []
    for subject, processes in [*RUNS, (FLOOR, 1), (FLOOR, 2)]:
        g = find(groups, SAME, subject, processes)
        if g is not None:
            names.append(f"{subject}\n{processes}p")
            p99s.append(median(g.p99s()))
            low, high = _errors(g.p99s())
            below.append(low)
            above.append(high)
    bars = right.bar(range(len(p99s)), p99s, 0.6, yerr=[below, above], capsize=3, color="#2a7ab9")
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
    right.set_ylabel("p99 ack, ms (log; median of the runs, their range)")
    right.set_xticks(range(len(names)), names, fontsize=7)
    right.set_title("p99 ack of the burst of 500 identical lists", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
