"""The fault suite: what the bot owes users (answers to commands, alerts of failed runs) through
Slack's outages and rate limits, lost answers, deploys, crashes, a database restart and an
Airflow outage. Each case counts commands sent, acknowledged, answered, lost and duplicated,
and alerts owed, delivered, lost and duplicated.

    .venv/bin/python -m bench.faults [--scale 1] [--cases slack_down,...]   # about 15 minutes

The cases, the bot they run and how they count are testkit/faults.py's, shared with the tests
(tests/e2e/test_outbox_faults_e2e.py runs them at ``--scale`` 0.1): the bot as a host runs it
on a real PostgreSQL, against the Slack stand-in and a scripted Airflow. ``--scale`` shrinks
the outages and windows. This is the command line: it runs the cases chosen, one after another,
and writes their table to bench/results/faults.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from testkit.bot_process import ROOT
from testkit.faults import CASES, Tally, run, world


def table(tallies: Sequence[Tally]) -> str:
    lines = [
        "| case | commands sent / acked / answered / lost / duplicated "
        "| alerts owed / delivered / lost / duplicated | posts held twice | all told after |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in tallies:
        lines.append(
            f"| {t.case} | {t.sent} / {t.acked} / {t.answered} / {t.lost} / {t.duplicated} "
            f"| {t.owed} / {t.delivered} / {t.posts_lost} / {t.posts_duplicated} "
            f"| {t.twice} | {t.seconds:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.md")
    args = parser.parse_args(argv)
    tallies = []
    with tempfile.TemporaryDirectory() as tmp, world(Path(tmp)) as (slack, pg):
        for case in args.cases.split(","):
            started = time.monotonic()
            tallies.append(run(case, slack, pg, Path(tmp), args.scale))
            print(f"{case}: {tallies[-1]} ({time.monotonic() - started:.0f} s)", flush=True)
    load = os.getloadavg()
    text = (
        f"# Fault suite\n\n`python -m bench.faults --scale {args.scale}` on {os.cpu_count()} "
        f"cores, load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.\n\n"
        + table(tallies) + "\n"
    )  # fmt: skip
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
