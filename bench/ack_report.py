"""The classic table and chart of the ack benchmark (bench/results/ack_latency.md), and the facts
about the machine every table states."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bench.ack_scenarios import ANSWER_WINDOW, LONG_ANSWER_WINDOW, Result
from bench.ack_subjects import BASELINE, OURS, SUBJECT_LABELS, TODAY
from bench.ack_traffic import PROBE_INTERVAL, PROBES, SLACK_ACK_LIMIT
from bench.report import host_info, markdown_table, pyplot
from bot.serve import gunicorn_conf
from testkit.airflow_harness import AirflowServer


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def fmt_ms(value: float) -> str:
    if math.isinf(value):
        return "no ack"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def fmt_delay(delay: float) -> str:
    return f"{delay:g} s"


def result_row(r: Result) -> list[str]:
    acks = r.ack_ms
    n = len(r.commands)
    answers = r.answer_seconds()
    errors = r.failed()
    return [
        SUBJECT_LABELS[r.scenario.subject],
        fmt_delay(r.scenario.delay),
        str(r.scenario.burst),
        fmt_ms(percentile(acks, 50)),
        fmt_ms(percentile(acks, 99)),
        fmt_ms(acks[-1]),
        f"{r.over_limit()}/{n}" + (f" ({errors})" if errors else ""),
        f"{r.answered() / n:.0%} ({r.answered()}/{n})",
        f"{percentile(answers, 50):.1f}" if answers else "-",
        f"{r.scenario.window:.0f} s",
        fmt_probes(r),
    ]


def fmt_probes(r: Result) -> str:
    """p50 / p99 ack ms of the probes sent with the burst in flight, and how many failed."""
    if not r.probes:
        return "-"
    probes = r.probe_ms
    bad = sum(1 for c in r.probes if c.status != 200 or c.ack_seconds > SLACK_ACK_LIMIT)
    text = f"{fmt_ms(percentile(probes, 50))} / {fmt_ms(percentile(probes, 99))}"
    return text + (f" ({bad}/{len(probes)} over 3 s)" if bad else "")


HEADERS = [
    "subject",
    "Airflow delay",
    "burst",
    "p50 ack ms",
    "p99 ack ms",
    "max ms",
    "acks over 3 s",
    "share answered",
    "p50 answer s",
    "answer window",
    "one more, p50 / p99 ms",
]


def results_table(results: Sequence[Result]) -> str:
    rows = [result_row(r) for r in results]
    return markdown_table(HEADERS, rows, numeric=range(3, len(HEADERS)))


def ratio_line(results: Sequence[Result]) -> str:
    def p99(subject: str, delay: float, burst: int) -> float | None:
        for r in results:
            s = r.scenario
            if (s.subject, s.delay, s.burst) == (subject, delay, burst):
                return percentile(r.ack_ms, 99)
        return None

    ours, theirs = p99(OURS, 5.0, 500), p99(BASELINE, 5.0, 500)
    if ours is None or theirs is None:
        return "Ratio at 500 commands, 5 s Airflow delay: not measured in this run."
    line = (
        f"**p99 ack at 500 commands, 5 s Airflow delay: Bolt default {fmt_ms(theirs)} ms, ours "
        f"{fmt_ms(ours)} ms: {theirs / ours:,.0f}x.**"
    )
    busy = {
        r.scenario.subject: percentile(r.probe_ms, 99)
        for r in results
        if (r.scenario.delay, r.scenario.burst) == (5.0, 500) and r.probes
    }
    if OURS in busy and BASELINE in busy:
        line += (
            f" **One more command with those 500 in flight: p99 Bolt default "
            f"{fmt_ms(busy[BASELINE])} ms, ours {fmt_ms(busy[OURS])} ms: "
            f"{busy[BASELINE] / busy[OURS]:,.0f}x.**"
        )
    return line


def machine_info(airflow: AirflowServer) -> list[str]:
    return [
        *host_info(),
        f"- Airflow {airflow.version} api-server (1 worker, SQLite), the test harness's, with "
        "`[database] sql_alchemy_max_overflow = 64`: with the default pool (5 + 10) its "
        "api-server froze here under 24 or 32 concurrent API calls (a revoked-token check "
        "that blocks its event loop once the pool is dry, apache/airflow#73422); the Bolt "
        "default makes as many at once as it has threads.",
        f"- gunicorn as the Procfile runs it: {gunicorn_conf.workers} "
        f"process{'es' if gunicorn_conf.workers > 1 else ''} of "
        f"{gunicorn_conf.threads} threads (`WEB_CONCURRENCY`, `WEB_THREADS`), for every subject "
        "of the classic set; the sharing set sets `WEB_CONCURRENCY` itself.",
        "- Everything on this one machine: Airflow, the subject, the Slack stand-in, the delay "
        "proxy and the client sending the commands compete for the same cores.",
    ]


def last_answer_notes(results: Sequence[Result]) -> list[str]:
    notes = []
    for r in results:
        answers = r.answer_seconds()
        if r.scenario.burst >= 500 and answers:
            notes.append(
                f"- {SUBJECT_LABELS[r.scenario.subject]}, {r.scenario.burst} at once at "
                f"{fmt_delay(r.scenario.delay)}: the last answer arrived {answers[-1]:.0f} s "
                "after the burst's start."
            )
    return notes


def document(
    sections: Sequence[Sequence[str]], info: Sequence[str], started: datetime, seconds: float
) -> str:
    """The whole of bench/results/ack_latency.md."""
    lines = [
        "# Slash-command ack latency: our bot, the code before it, and a default Bolt app",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench.ack_latency` "
        f"(the whole run took {seconds / 60:.1f} min).",
        "",
        *info,
        f"- Load average (1 min) at the end: {os.getloadavg()[0]:.2f}; other work on the "
        "machine during the run would show in it.",
    ]
    for section in sections:
        lines += ["", *section]
    return "\n".join([*lines, ""])


def classic_section(results: Sequence[Result]) -> list[str]:
    """Bursts of 1, 50 and 500 ``/airflow list``: ours and the Bolt default."""
    if not results:
        return []
    return [
        "## Bursts of `/airflow list`",
        "",
        results_table(results),
        "",
        ratio_line(results),
        "",
        "- Each burst sends `/airflow list` N times at once, each from its own thread over "
        "its own connection, signed like Slack's, to a freshly started subject warmed up with "
        "one command. The ack time runs from connecting to reading the HTTP response. The "
        "senders run in a process of their own, apart from the Slack stand-in and the delay "
        "proxy, so that how busy those are does not slow the measuring clients.",
        "- *acks over 3 s*: Slack shows the user an error for these; in brackets those that "
        "were not even a 200 (Bolt answers 404 when the listener has not called `ack()` 3 s "
        "after Bolt got the request; time spent queued in gunicorn before that is not "
        "counted by Bolt, so a late ack can still be a 200).",
        "- *share answered*: answers naming the test DAGs (a threaded reply in the command's "
        "channel, or a post to its `response_url`) that reached the Slack stand-in within the "
        "answer window, counted from the burst's start; *p50 answer s* is over those that "
        "arrived. An answer counts even after a failed ack: Slack's user then sees the "
        "error first and the answer later.",
        "- *ours*: the Procfile's `web` line, default settings (`WORKER_THREADS` 32, "
        "`MAX_PENDING` 1000, `max_in_flight` 16 Airflow calls at once per deployment, "
        "shared by the processes); `list` costs two Airflow calls (the page, and the DAGs' "
        "last runs). *Bolt default*: `bench/baseline_bolt_app.py`, `App(...)` with "
        "`process_before_response=False` (listeners on Bolt's 5-thread executor in each "
        "process), `ack()` first, then one Airflow call (`GET /api/v2/dags?limit=20`, JWT "
        "cached) and `respond()`; the same gunicorn settings.",
        f"- *one more*: after a burst of 50 or more was acknowledged, while its commands "
        f"waited for Airflow, {PROBES} more commands, one every {PROBE_INTERVAL * 1000:.0f} "
        "ms, each on its own connection: what the next user gets from a busy bot.",
        f"- The bursts of 500 at a 5 s delay get a {LONG_ANSWER_WINDOW:.0f} s answer window "
        f"(the others {ANSWER_WINDOW:.0f} s), both subjects alike. At 5 listeners per "
        "process making one 5 s call each, the Bolt default answers at most one command a "
        "second per process: its share is what it answered within the window.",
        *last_answer_notes(results),
        "",
        "![p99 ack latency per scenario](ack_latency.png)",
    ]


def write_chart(results: Sequence[Result], path: Path) -> None:
    plt = pyplot()

    scenarios = sorted({(r.scenario.delay, r.scenario.burst) for r in results})
    labels = [f"{fmt_delay(d)} delay\n{b} at once" for d, b in scenarios]
    present = {r.scenario.subject for r in results}
    shown = [
        (subject, colour)
        for subject, colour in ((OURS, "#2a7ab9"), (TODAY, "#7f8c8d"), (BASELINE, "#d9822b"))
        if subject in present
    ]
    width = 0.76 / len(shown)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(scenarios)), 4.8))
    for i, (subject, colour) in enumerate(shown):
        offset = (i - (len(shown) - 1) / 2) * width
        values: list[float] = []
        for delay, burst in scenarios:
            found = [
                percentile(r.ack_ms, 99)
                for r in results
                if (r.scenario.subject, r.scenario.delay, r.scenario.burst)
                == (subject, delay, burst)
            ]
            values.append(found[0] if found else math.nan)
        xs = [i + offset for i in range(len(scenarios))]
        bars = ax.bar(xs, values, width, label=SUBJECT_LABELS[subject], color=colour)
        ax.bar_label(
            bars, labels=[fmt_ms(v) if not math.isnan(v) else "" for v in values], fontsize=7
        )
    ax.axhline(SLACK_ACK_LIMIT * 1000, color="#c0392b", linestyle="--", linewidth=1)
    ax.text(
        -0.5,
        SLACK_ACK_LIMIT * 1000 * 1.1,
        " Slack's 3 s limit",
        color="#c0392b",
        ha="left",
        va="bottom",
        fontsize=8,
    )
    ax.set_yscale("log")
    ax.set_ylabel("p99 ack latency, ms (log scale)")
    ax.set_xticks(range(len(scenarios)), labels, fontsize=8)
    ax.set_title("/airflow slash-command ack latency over HTTP")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
