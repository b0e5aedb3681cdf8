"""What the state store holds after a soak of commands, and what pruning leaves of it.

The real bot in process (testkit.flow: the app the Procfile serves, the Slack stand-in, a
scripted Airflow 3 with 25 DAGs) answers N signed commands, a mix of what people type: lists
(each reply's buttons are stored actions), statuses, triggers (each run followed to its end)
and triggers on a deployment with ``confirm: true`` (each a pending confirmation). Then the
store's tables are counted, and pruned with the bot's own rules (bot/store/retention.py ``Retention``)
as of now, two days on and 31 days on.

    .venv/bin/python -m bench.store_soak            # 10,000 commands, about 10 minutes
    .venv/bin/python -m bench.store_soak -n 1000

Writes bench/results/store_soak.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.report import log, markdown_table
from bot.store import Retention
from testkit.flow import FlowBot, ScriptedAirflow, deployment, flow_bot

FOLLOW_WAIT_S = 2.5  # longer than the follower's poll (2 s), so every ended run is reported
RESULTS = Path(__file__).parent / "results" / "store_soak.md"
DAGS = 25
BATCH = 500  # commands sent before waiting for the bot to catch up (MAX_PENDING is 1000)
# One in every ten commands of each kind, the rest lists: what a busy channel looks like.
MIX = ("list prod", "list prod", "list prod", "list prod", "list prod", "list prod",
       "status prod dag_{n:02d}", "status prod dag_{n:02d}",
       "trigger prod dag_{n:02d}", "trigger guarded dag_{n:02d}")  # fmt: skip


def soak(flow: FlowBot, airflow: ScriptedAirflow, commands: int) -> float:
    started = time.monotonic()
    for first in range(0, commands, BATCH):
        for i in range(first, min(first + BATCH, commands)):
            text = MIX[i % len(MIX)].format(n=i % DAGS)
            url = flow.slack.new_response_url(channel="C0SOAK")
            answer = flow.local.slash(text, user="U0ALICE", channel="C0SOAK", response_url=url)
            if answer.status != 200:
                raise RuntimeError(f"{text!r} answered {answer.status}: {answer.body[:200]}")
        flow.settle(timeout=300)
        airflow.end_runs()  # the scheduler's part: the follower then reports and ends them
        time.sleep(FOLLOW_WAIT_S)
        flow.settle(timeout=300)
        flow.slack.reset()  # the stand-in's memory is not what is measured
        log(f"{first + BATCH} commands")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--commands", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedAirflow() as airflow:
        for n in range(DAGS):
            airflow.add_dag(f"dag_{n:02d}", description=f"Soak DAG {n}")
        config = f"""
deployments:
  prod: {deployment(airflow)}
  guarded: {deployment(airflow, confirm=True)}
grants:
  - {{role: operator, users: [U0ALICE]}}
"""
        with flow_bot(Path(tmp), config) as flow:
            store = flow.local.bot.store
            log(f"soak: {args.commands} commands")
            seconds = soak(flow, airflow, args.commands)
            flow.settle(timeout=120)
            db_file = Path(tmp) / "store.db"
            rows = {"after the soak": store.row_counts()}
            size_before = os.path.getsize(db_file)
            now = datetime.now(UTC)
            timings = {}
            for label, at, rules in (
                ("pruned now", now, Retention()),
                ("pruned 2 days on", now + timedelta(days=2), Retention()),
                ("pruned 31 days on", now + timedelta(days=31), Retention()),
                (
                    "31 days on, AUDIT_RETENTION_DAYS=30",
                    now + timedelta(days=31),
                    Retention(audit=timedelta(days=30)),
                ),
            ):
                started = time.monotonic()
                store.prune(rules, now=at)
                timings[label] = time.monotonic() - started
                rows[label] = store.row_counts()
    tables = list(rows["after the soak"])
    table = markdown_table(
        ["rows", *tables, "prune pass"],
        [
            [label, *(f"{counts[t]:,}" for t in tables), f"{timings[label] * 1000:.0f} ms"
             if label in timings else "–"]
            for label, counts in rows.items()
        ],
        numeric=range(1, len(tables) + 2),
    )  # fmt: skip
    report = (
        f"# Store after a soak of {args.commands:,} commands\n\n"
        f"{args.commands:,} commands in {seconds:.0f} s ({args.commands / seconds:.0f}/s), "
        f"one bot process in process, SQLite store ({size_before / 2**20:.1f} MiB after the "
        f"soak), 25 DAGs; the mix: {MIX.count('list prod')} lists, 2 statuses, 1 trigger and "
        f"1 confirmed trigger in every {len(MIX)}.\n\n{table}\n\n"
        "Without pruning (main before housekeeping), the 'after the soak' row is what stays "
        "for ever.\n"
    )
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
