"""One DAG failing every interval for an hour: the messages its channel gets, and what the
watch costs per interval (``--scenario incident`` of bench/watch.py).

The real bot in process (testkit.flow, a SQLite store, the Slack stand-in) against a scripted
Airflow 3. One subscription on failures; each interval one run of the DAG ends failed (two
failed tasks, a 40-line log), then the watcher's round is run by hand, so that an hour of
15-second intervals (240) takes seconds, not an hour. Nothing here depends on the wall clock:
no recovery, so the ten minutes of the flapping rule never come into it. Then the DAG succeeds
once. Measured: the channel's top-level messages (the goal: one) and thread replies, the
message's updates (``chat.update``), the Airflow calls of each round by kind, and the store's
event rows. Before incidents, each failure was a message of its own: 240.

    .venv/bin/python -m bench.watch --scenario incident   # about a minute

Writes bench/results/watch_incident.md (also printed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.report import log, markdown_table
from bench.watch import CallLog, kind_of
from testkit.flow import ScriptedAirflow, deployment, flow_bot

RESULTS = Path(__file__).parent / "results" / "watch_incident.md"
CHANNEL, DAG = "C0INCIDENT", "etl_orders"
TASKS = ["extract", "load"]
LOG = [f"[2026-12-08T02:00:{i:02d}] {'ERROR' if i == 39 else 'INFO'} step {i}" for i in range(40)]


def config_of(airflow: ScriptedAirflow) -> str:
    return f"""
deployments:
  prod: {deployment(airflow)}
subscriptions:
  - {{channel: {CHANNEL}, deployment: prod, dags: ["{DAG}"], events: [failed]}}
"""


def run_incident(args: argparse.Namespace) -> None:
    intervals = args.intervals
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, ScriptedAirflow() as airflow:
        airflow.add_dag(DAG, failed_tasks=list(TASKS), logs={TASKS[0]: LOG})
        calls = CallLog()
        calls.install(airflow)
        env = {"WATCH_INTERVAL_SECONDS": str(args.interval)}
        with flow_bot(Path(tmp), config_of(airflow), env) as flow:
            watcher = flow.local.bot.watcher
            watcher.stop()  # its rounds are run here, one per interval
            watcher.tick()  # the first round: the watch starts from now
            per_round: list[Counter[str]] = []
            log(f"{intervals} intervals, a failure each")
            for n in range(intervals + 1):
                state = "failed" if n < intervals else "success"
                airflow.add_run(DAG, state=state, dag_run_id=f"scheduled__i{n:04d}")
                mark = len(calls.calls)
                watcher.tick()
                flow.settle()
                per_round.append(Counter(kind_of(r) for _, r in calls.calls[mark:]))
            said = flow.said(CHANNEL)
            rows = flow.local.bot.store.watch_events()
            updates = [c for c in flow.slack.calls if c.method == "chat.update"]
    top = [m for m in said if "thread_ts" not in m]
    replies = [m for m in said if "thread_ts" in m]
    failing = per_round[:intervals]
    totals = [sum(c.values()) for c in failing]
    kinds = sorted({k for c in failing for k in c})
    text = "\n".join(
        [
            "# One DAG failing every interval: one incident",
            "",
            f"{intervals} intervals (an hour at {args.interval} s), one failed run each, then one "
            f"success; rounds run by hand; {time.monotonic() - started:.0f} s in all.",
            "",
            markdown_table(
                ["figure", "value"],
                [
                    [
                        "top-level messages in the channel (goal: 1; before incidents: "
                        f"{intervals})",
                        str(len(top)),
                    ],
                    [
                        "replies in its thread (each later failure, then the recovery)",
                        str(len(replies)),
                    ],
                    ["updates of the message (chat.update)", str(len(updates))],
                    ["the message at the end", top[0]["text"][:120] if top else "none"],
                    [
                        "Airflow calls a failing interval: mean / max",
                        f"{statistics.mean(totals):.2f} / {max(totals)}",
                    ],
                    *[
                        [f"  of which {k}", f"{statistics.mean(c[k] for c in failing):.2f}"]
                        for k in kinds
                    ],
                    ["store event rows", str(len(rows))],
                ],
                numeric={1},
            ),
            "",
        ]
    )
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
