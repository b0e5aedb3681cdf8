"""Slash-command ack latency and time to answer over HTTP: our bot, the code before it, and a Bolt
app in its default configuration.

    .venv/bin/python -m bench.ack_latency [--sets classic,sharing] [--bursts 1,50,500]
        [--delays 0.1,5] [--subjects ours,today,bolt-default,floor] [--today REVISION]
        [--out DIR]

--subjects: the classic set measures those of ours, today and bolt-default listed (default:
ours and bolt-default), the sharing set all those listed (default: all four).

Sets up, all on 127.0.0.1: a real Airflow 3 (``testkit.airflow_harness``) with the test
DAGs and 50 more (``wide_00``..``wide_49``, one run each), the Slack stand-in
(``bot.tools.localslack``) and a ``DelayProxy`` in front of Airflow whose delay is set
per scenario. Then, for every scenario (``bench.ack_scenarios``: the classic set, bursts of
``/airflow list``; the sharing set, 500 commands at 5 s with one and two processes), it starts
the subject (``bench.ack_subjects``) afresh, warms it up with one command (proxy delay 0: JWT
fetched, connections open), and sends the burst at once, each command a correctly signed
request like Slack's from its own thread and connection, with its own channel and
``response_url``, all from a child process (``bench.ack_traffic``: the users' side; Slack's
stand-in and the proxy keep this one). It measures each request's time to the HTTP response
(the ack Slack waits 3 s for), then waits, up to the scenario's answer window counted from the
burst's start, for each command's answer to reach the stand-in: a threaded
``chat.postMessage`` in its channel or a POST to its ``response_url``.

Writes ``bench/results/ack_latency.md`` (also printed), ``ack_latency.png`` (the classic set)
and ``ack_sharing.png`` (the sharing set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.ack_report import classic_section, document, machine_info, result_row, write_chart
from bench.ack_scenarios import (
    SAME,
    Result,
    Scenario,
    classic_scenarios,
    run_scenario,
    sharing_scenarios,
)
from bench.ack_sharing_chart import write_sharing_chart
from bench.ack_sharing_report import row, runs_of, sharing_section
from bench.ack_subjects import (
    ALL_SUBJECTS,
    SUBJECTS,
    TODAY,
    code_of,
    label_today,
    parse_list,
    start_bench_airflow,
    subject_list,
    widen_backlog,
)
from bench.ack_traffic import WIDE_DAGS
from bench.dag_files import dags_folder
from bench.list_dags import DirectApi
from bench.report import log
from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.bot_process import ROOT
from testkit.delay_proxy import DelayProxy

DEFAULT_DELAYS = (0.1, 5.0)
DEFAULT_BURSTS = (1, 50, 500)
SETS = ("classic", "sharing")
BEFORE_ISSUE_19 = "f20a0d6"
"""main just before issue 19 was merged (the merge's first parent): the ``today`` subject."""


def start_airflow_with_wide_dags(run_dir: Path) -> AirflowServer:
    """The test DAGs and the 50 wide ones, each of these with one successful run."""
    dags = dags_folder(
        run_dir / "dags",
        prefix="wide_",
        count=len(WIDE_DAGS),
        doc="The 50 DAGs bench.ack_latency's spread scenario asks about.",
    )
    airflow = start_bench_airflow(3, run_dir / "airflow", dags_folder=dags)
    api = DirectApi(airflow)
    for dag_id in WIDE_DAGS:
        seed: dict[str, object] = {"dag_run_id": "seed", "logical_date": None, "conf": {}}
        api.call("POST", f"/dags/{dag_id}/dagRuns", json=seed)
        api.call("PATCH", f"/dags/{dag_id}/dagRuns/seed", json={"state": "success"})
    return airflow


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sets", type=parse_sets, default=list(SETS))
    parser.add_argument("--bursts", type=parse_list(int), default=list(DEFAULT_BURSTS))
    parser.add_argument("--delays", type=parse_list(float), default=list(DEFAULT_DELAYS))
    parser.add_argument("--subjects", type=subject_list, default=None)
    parser.add_argument(
        "--today", default=BEFORE_ISSUE_19, help="git revision of the code to compare with"
    )
    parser.add_argument(
        "--sharing-burst", type=int, default=500, help="the sharing set's burst (to try it out)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="how often the sharing set measures ours and the floor",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    classic = classic_scenarios(args.delays, args.bursts, args.subjects or list(SUBJECTS))
    sharing = sharing_scenarios(
        args.subjects or list(ALL_SUBJECTS), args.sharing_burst, args.rounds
    )
    if args.today != BEFORE_ISSUE_19:
        label_today(args.today)
    scenarios = (classic if "classic" in args.sets else []) + (
        sharing if "sharing" in args.sets else []
    )
    started_at = datetime.now(UTC)
    began = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    today_tree, today_commit = code_of(args.today, run_dir)
    log(f"today's code: {args.today} = {today_commit[:12]}, in {today_tree}")
    log("starting Airflow 3 (testkit.airflow_harness) with 50 more DAGs")
    airflow = start_airflow_with_wide_dags(run_dir)
    results: list[Result] = []
    failed = True
    try:
        info = machine_info(airflow)
        with SlackStandin() as slack, DelayProxy(airflow.url, delay=0.0) as proxy:
            widen_backlog(slack._server)
            widen_backlog(proxy._server)
            for n, scenario in enumerate(scenarios):
                results.append(run_one(n, scenario, slack, proxy, run_dir, today_tree))
        failed = False
    finally:
        airflow.stop()
        if failed:
            log(f"failed; the subjects' and Airflow's logs are kept in {run_dir}")

    shown_classic = [r for r in results if r.scenario.processes is None]
    shown_sharing = [r for r in results if r.scenario.processes is not None]
    sections = [classic_section(shown_classic), sharing_section(shown_sharing, today_commit)]
    text = document(sections, info, started_at, time.monotonic() - began)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ack_latency.md").write_text(text)
    if shown_classic:
        write_chart(shown_classic, args.out / "ack_latency.png")
    if shown_sharing:
        write_sharing_chart(shown_sharing, args.out / "ack_sharing.png")
    print(text)
    log(f"wrote {args.out / 'ack_latency.md'} and its charts")
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def run_one(
    n: int,
    scenario: Scenario,
    slack: SlackStandin,
    proxy: DelayProxy,
    run_dir: Path,
    today_tree: Path,
) -> Result:
    s = scenario
    workdir = run_dir / f"{n:03d}-{s.subject}-{s.kind}-{s.delay:g}s-{s.burst}-{s.processes}p"
    workdir.mkdir()
    what = "identical lists" if s.kind == SAME else "spread over 50 DAGs"
    processes = "" if s.processes is None else f", {s.processes} process(es)"
    again = f", round {s.round + 1}" if s.round else ""
    log(f"{s.subject}: {s.burst} at once ({what}), Airflow delay {s.delay:g} s{processes}{again}")
    result = run_scenario(
        s,
        slack=slack,
        proxy=proxy,
        workdir=workdir,
        today_tree=today_tree if s.subject == TODAY else None,
    )
    shown = result_row(result) if s.processes is None else row(runs_of([result])[0])
    log(f"  {' | '.join(shown)} ({result.seconds:.0f} s, load {os.getloadavg()[0]:.2f})")
    return result


def parse_sets(value: str) -> list[str]:
    sets = [s for s in value.split(",") if s]
    if unknown := set(sets) - set(SETS):
        raise argparse.ArgumentTypeError(f"unknown sets {sorted(unknown)}; choose from {SETS}")
    return sets


if __name__ == "__main__":
    sys.exit(main())
