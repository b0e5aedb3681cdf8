"""bench.watch's two scenarios for every event and for many deployments (``--scenario silent``,
``--scenario many``), on the helpers of bench/watch.py.

``silent``: one deployment, Airflow 3.1's API (human-in-the-loop), 5,000 DAGs, 100 subscriptions
over 10 channels by the config file, together naming every event (failed, success, hitl, long,
queued, late, import_errors), at a real ``WATCH_INTERVAL_SECONDS`` (no simulated clock: each
trouble is set up so that its condition starts to hold at a known instant during the run, e.g. a
run started ``long_after`` minus a few seconds ago). A realistic mix: runs ending (a third
failed), a few runs passing ``long_after``, a few runs and tasks passing ``queued_after``, a few
tasks waiting for a person, an import error appearing, a ``late`` deadline passing. Measured:
the Airflow calls of each round (at the scripted server, by kind), the time from when each
condition holds to its post reaching the Slack stand-in, the process's RSS.

``many``: 50 deployments in one process, each its own scripted Airflow 3 (20 DAGs): 43 healthy,
5 answering every call in ``--slow`` seconds (``ScriptedAirflow.delay``), 2 that accept the
connection and never answer (a socket left unread: each call ends at the client's timeout).
Two bot processes on one store (``FlowBot.another_process``), as two workers sharing the
deployments' leases. Measured: the healthy deployments' time from a run's end to its post, the
slow ones' too, the threads of the process (the watch's rounds: ``watch-round-*``), who held
each deployment's lease, and every post made once.
"""

from __future__ import annotations

import argparse
import platform
import random
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.report import log, markdown_table
from bench.watch import (
    LOG,
    TASKS,
    CallLog,
    RssSampler,
    load_average,
    mib,
    percentile,
    status_kib,
    timed_rounds,
    wait_for,
)
from bot.core.silent import DETAIL_CALLS
from bot.core.watcher import ROUND_THREADS
from bot.store.schema import watch, watch_event
from testkit.fake_http import Request
from testkit.flow import FlowBot, ScriptedAirflow, deployment, flow_bot
from testkit.postgres_server import PostgresServer, _bin_dir
from testkit.scripted_tasks import ScriptedTask

RESULTS_SILENT = Path(__file__).parent / "results" / "watch_silent.md"
RESULTS_MANY = Path(__file__).parent / "results" / "watch_many.md"
DEPLOYMENT = "prod"
TEAMS = 10
KINDS = ("etl", "ml", "report", "billing", "sync")
PER_KIND = 100
LONG_AFTER = 30 * 60.0
QUEUED_AFTER = 15 * 60.0
ZONE = "Europe/Berlin"
LATE_GLOB = "team03_report_00*"  # 10 DAGs
LATE_EXACT = "team05_report_007"
NEVER_SUCCEEDED = {f"team03_report_00{k}" for k in range(5)} | {LATE_EXACT}
EVENTS_ALL = ("failed", "success", "hitl", "long", "queued", "late", "import_errors")


def iso(at: datetime) -> str:
    return at.isoformat()


def dag_ids() -> list[str]:
    return [
        f"team{t:02d}_{k}_{n:03d}" for t in range(TEAMS) for k in KINDS for n in range(PER_KIND)
    ]


@dataclass(frozen=True)
class Sub:
    channel: str
    glob: str
    events: tuple[str, ...]
    late_at: str | None = None  # HH:MM in ZONE

    def yaml(self) -> str:
        fields = [f"channel: {self.channel}", f"deployment: {DEPLOYMENT}",
                  f'dags: ["{self.glob}"]', f"events: [{', '.join(self.events)}]"]  # fmt: skip
        if "long" in self.events:
            fields.append("long_after: 30m")
        if "queued" in self.events:
            fields.append("queued_after: 15m")
        if self.late_at is not None:
            fields.append(f'late: {{at: "{self.late_at}", timezone: {ZONE}}}')
        return "  - {" + ", ".join(fields) + "}"

    def wants(self, event: str, key: str) -> bool:
        if event not in self.events:
            return False
        if event == "import_errors":
            return fnmatchcase(key, self.glob) or fnmatchcase(key.rsplit("/", 1)[-1], self.glob)
        return fnmatchcase(key, self.glob)


def silent_subscriptions(late_at: str) -> list[Sub]:
    """100 over 10 channels; the patterns cover all 5,000 DAGs, every event is named."""
    subs: list[Sub] = []
    for t in range(TEAMS):
        ch, team, nb = f"C0TEAM{t:02d}", f"team{t:02d}", f"team{(t + 1) % TEAMS:02d}"
        subs += [
            Sub(ch, f"{team}_etl_*", ("failed", "long")),
            Sub(ch, f"{team}_ml_*", ("failed", "queued")),
            Sub(ch, f"{team}_report_*", ("failed",)),
            Sub(ch, f"{team}_sync_*", ("success", "hitl")),
            Sub(ch, f"{nb}_billing_*", ("failed", "queued")),
            Sub(ch, f"{team}_*.py", ("import_errors",)),
        ]
        subs += [Sub(ch, f"{team}_etl_{k:03d}", ("failed", "success", "long")) for k in range(3)]
        if t == 3:
            subs.append(Sub(ch, LATE_GLOB, ("late",), late_at))
        elif t == 5:
            subs.append(Sub(ch, LATE_EXACT, ("late",), late_at))
        else:
            subs.append(Sub(ch, f"{team}_etl_003", ("failed", "success", "long")))
    return subs


@dataclass
class Trouble:
    """Something the bench made that some channels should hear of, and when it began to hold
    (wall clock, seconds)."""

    event: str
    dag_id: str  # the store's dag_id column: a DAG, or an import error's file
    run_id: str | None  # the store's run_id column where known in advance
    holds_at: float
    channels: set[str]


@dataclass
class SilentOutcome:
    interval: int
    intervals: int
    rate: int
    load_start: str = ""
    load_end: str = ""
    rss_kib: dict[str, int] = field(default_factory=dict)
    troubles: list[Trouble] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # watch_event, with "arrived"
    calls_per_round: list[Counter[str]] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)
    setup_seconds: float = 0.0
    total_seconds: float = 0.0
    late_at_wall: float = 0.0
    first_round_calls: Counter[str] = field(default_factory=Counter)


def call_kind(req: Request) -> str:
    p = req.path
    if p.endswith("/version"):
        return "version"
    if p == "/api/v2/dags/~/dagRuns":
        state = req.query.get("state") or []
        return "active runs" if "running" in state or "queued" in state else "ended runs"
    if p.endswith("/hitlDetails"):
        return "hitl"
    if p == "/api/v2/dags/~/dagRuns/~/taskInstances":
        return "waiting tasks"
    if p == "/api/v2/importErrors":
        return "import errors"
    if "/logs/" in p:
        return "failure: log"
    if p.endswith("/dependencies"):
        return "detail: why waiting"
    if p.endswith("/taskInstances"):
        states = req.query.get("state") or []
        return "detail: running tasks" if states == ["running"] else "failure: tasks"
    if p == "/api/v2/dags":
        return "detail: list DAGs"
    if p.endswith("/details"):
        return "detail: DAG details"
    if p.endswith("/dagRuns/list"):  # the late deadline's own two
        return "deadline: recent successes" if "states" in req.json() else "deadline: latest runs"
    if p.endswith("/dagRuns"):
        return "detail: successes"
    return "detail: a run"


LISTINGS = ("ended runs", "hitl", "active runs", "waiting tasks", "import errors")


def late_time(now: datetime, lead: float) -> tuple[str, float]:
    """HH:MM in ZONE of the first whole minute at least ``lead`` s from now; and that instant."""
    at = (now + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)
    return at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M"), at.timestamp()


def build_silent(airflow: ScriptedAirflow) -> None:
    for dag_id in dag_ids():
        dag = airflow.add_dag(dag_id, failed_tasks=list(TASKS), logs={TASKS[0]: LOG})
        for h in range(2):
            state = "failed" if h == 0 or dag_id in NEVER_SUCCEEDED else "success"
            airflow.add_run(dag.dag_id, state=state, dag_run_id=f"scheduled__history{h}",
                            run_type="scheduled")  # fmt: skip


def _events_rows(flow: FlowBot) -> list[dict[str, Any]]:
    store = flow.local.bot.store
    with store._db.connect() as conn:
        rows = conn.execute(select(watch_event)).mappings().all()
    arrived: dict[tuple[str, str], float] = {}
    wall_minus_mono = time.time() - time.monotonic()
    for call in list(flow.slack.calls):
        if call.method == "chat.postMessage" and call.result and call.result.get("ok"):
            key = (str(call.params.get("channel")), str(call.result.get("ts")))
            arrived.setdefault(key, call.at + wall_minus_mono)
    out = []
    for r in rows:
        d = dict(r)
        d["arrived"] = arrived.get((d["channel_id"], str(d["message_ts"])))
        out.append(d)
    return out


def silent_run(args: argparse.Namespace) -> SilentOutcome:
    o = SilentOutcome(args.interval, args.intervals, args.rate)
    o.load_start = load_average()
    rng = random.Random(args.seed)
    started = time.monotonic()
    o.rss_kib["start"] = status_kib("VmRSS")
    span = args.interval * args.intervals
    # The late deadline: a whole minute, about a third of the way in (after the setup).
    late_at, o.late_at_wall = late_time(datetime.now(UTC), 30 + span / 3)
    subs = silent_subscriptions(late_at)
    with tempfile.TemporaryDirectory() as tmp, ScriptedAirflow(version="3.1.0") as airflow:
        build_silent(airflow)
        o.rss_kib["airflow built"] = status_kib("VmRSS")
        calls = CallLog()
        calls.install(airflow)
        config = (
            f"deployments:\n  {DEPLOYMENT}: {deployment(airflow)}\n"
            "grants:\n  - {role: operator, users: [U0BENCH]}\n"
            "subscriptions:\n" + "\n".join(s.yaml() for s in subs) + "\n"
        )
        env = {"WATCH_INTERVAL_SECONDS": str(args.interval)}
        with flow_bot(Path(tmp), config, env) as flow:
            store = flow.local.bot.store
            with timed_rounds(flow.local.bot.watcher) as rounds:
                log(f"{len(subs)} subscriptions; waiting for the first round")

                def watermarked() -> bool:
                    state = store.watch_state(DEPLOYMENT)
                    return state is not None and state.watermark is not None

                wait_for("the first round", watermarked, 3 * args.interval + 10)
                wait_for("its end", lambda: len(rounds) >= 1, 3 * args.interval + 10)
                watch_from = time.monotonic()
                o.first_round_calls = Counter(call_kind(r) for _, r in calls.calls)
                o.rss_kib["after setup"] = status_kib("VmRSS")
                o.setup_seconds = watch_from - started
                plan = _silent_plan(rng, args, subs, o.late_at_wall)
                log(f"{len(plan)} things happen over {args.intervals} intervals of "
                    f"{args.interval} s; the late deadline {late_at} {ZONE}")  # fmt: skip
                with RssSampler() as sampler:
                    t0 = time.time()
                    for at, make in plan:
                        delay = t0 + at - time.time()
                        if delay > 0:
                            time.sleep(delay)
                        o.troubles += make(airflow)
                    # The late deadline's incidents, once it has passed.
                    wait_for("the late deadline", lambda: time.time() > o.late_at_wall + 1,
                             span + 120)  # fmt: skip
                    o.troubles += _late_troubles(subs, o.late_at_wall, o.troubles)
                    log(f"all made; waiting for {sum(len(t.channels) for t in o.troubles)} posts")
                    try:
                        wait_for("every post", lambda: _all_posted(flow, o.troubles),
                                 args.drain)  # fmt: skip
                    except RuntimeError as exc:
                        log(f"{exc}: counting what came")
                    seen = len(rounds)
                    wait_for("two more rounds", lambda: len(rounds) >= seen + 2,
                             3 * args.interval + 10)  # fmt: skip
                    flow.settle(timeout=30)
                o.rss_kib["peak sampled during the run"] = max(k for _, k in sampler.samples)
                o.rss_kib["VmHWM at the end"] = status_kib("VmHWM")
                o.rows = _events_rows(flow)
                timed = [r for r in rounds if r.started >= watch_from]
        starts = [r.started for r in timed] + [float("inf")]
        o.calls_per_round = [Counter() for _ in timed]
        for at, req in calls.calls:
            i = next((k for k in range(len(timed)) if starts[k] <= at < starts[k + 1]), None)
            if i is not None:
                o.calls_per_round[i][call_kind(req)] += 1
        o.round_seconds = [r.ended - r.started for r in timed]
    o.total_seconds = time.monotonic() - started
    o.load_end = load_average()
    return o


Maker = Any  # Callable[[ScriptedAirflow], list[Trouble]]


def _silent_plan(
    rng: random.Random, args: argparse.Namespace, subs: Sequence[Sub], late_wall: float
) -> list[tuple[float, Maker]]:
    """(seconds from now, what happens then): runs ending, and the trouble, each set up a few
    seconds before its condition holds."""
    span = args.interval * args.intervals
    dags = dag_ids()
    now = time.time()

    def channels(event: str, key: str) -> set[str]:
        return {s.channel for s in subs if s.wants(event, key)}

    plan: list[tuple[float, Maker]] = []
    seq = iter(range(1_000_000))
    late_dags = [f"team03_report_00{k}" for k in range(5, 10)]  # these succeed before it

    def ended(dag_id: str, state: str) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            run = airflow.add_run(dag_id, state=state, dag_run_id=f"scheduled__b{next(seq):06d}",
                                  run_type="scheduled")  # fmt: skip
            end = datetime.fromisoformat(str(run["end_date"])).timestamp()
            return [Trouble(state, dag_id, str(run["dag_run_id"]), end, channels(state, dag_id))]

        return make

    for _ in range(args.rate * args.intervals):
        state = "failed" if rng.random() < 1 / 3 else "success"
        plan.append((rng.uniform(0, span), ended(rng.choice(dags), state)))
    for k, dag_id in enumerate(late_dags):  # learned by the watch from the runs it reads
        plan.append((max(1.0, late_wall - now - 40 - 3 * k), ended(dag_id, "success")))

    def long_run(dag_id: str, n: int, lead: float) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            since = datetime.now(UTC) - timedelta(seconds=LONG_AFTER - lead)
            run_id = f"long__{n:03d}"
            airflow.add_running_run(dag_id, since, run_id=run_id,
                                    tasks=[ScriptedTask("transform", state="running")])  # fmt: skip
            holds = since.timestamp() + LONG_AFTER
            return [Trouble("long", dag_id, run_id, holds, channels("long", dag_id))]

        return make

    def queued_run(dag_id: str, n: int, lead: float, holder: bool) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            if holder:  # max_active_runs=1, held by a run that started a minute ago
                airflow.dags[dag_id].max_active_runs = 1
                airflow.add_running_run(dag_id, datetime.now(UTC) - timedelta(minutes=1),
                                        run_id=f"holder__{n:03d}")  # fmt: skip
            queued_at = datetime.now(UTC) - timedelta(seconds=QUEUED_AFTER - lead)
            run_id = f"queued__{n:03d}"
            airflow.add_queued_run(dag_id, queued_at, run_id=run_id)
            holds = queued_at.timestamp() + QUEUED_AFTER
            return [Trouble("queued", dag_id, run_id, holds, channels("queued", dag_id))]

        return make

    def queued_task(dag_id: str, n: int, lead: float) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            scheduled = datetime.now(UTC) - timedelta(seconds=QUEUED_AFTER - lead)
            run_id = f"qtask__{n:03d}"
            pool = {
                "name": "Pool Slots Available",
                "reason": "Not scheduling since there are 0 open slots in pool default_pool",
            }
            airflow.add_running_run(dag_id, scheduled - timedelta(minutes=1), run_id=run_id,
                                    tasks=[ScriptedTask("extract", state="success"),
                                           ScriptedTask("load", state="scheduled", try_number=0,
                                                        scheduled_at=iso(scheduled),
                                                        dependencies=[pool])])  # fmt: skip
            holds = scheduled.timestamp() + QUEUED_AFTER
            return [Trouble("queued", dag_id, run_id, holds, channels("queued", dag_id))]

        return make

    def hitl(dag_id: str, n: int) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            run_id = f"hitl__{n:03d}"
            holds = time.time()
            airflow.add_hitl(dag_id, "approve", run_id=run_id)
            return [Trouble("hitl", dag_id, f"{run_id}/approve/-1", holds,
                            channels("hitl", dag_id))]  # fmt: skip

        return make

    def import_error(filename: str) -> Maker:
        def make(airflow: ScriptedAirflow) -> list[Trouble]:
            holds = time.time()
            airflow.add_import_error(filename, "Traceback (most recent call last):\n"
                                     "ModuleNotFoundError: No module named 'pandas_gbq'")  # fmt: skip
            return [Trouble("import_errors", filename, None, holds,
                            channels("import_errors", filename))]  # fmt: skip

        return make

    # A few of each, at random over the run, each set up 0-10 s before it holds.
    for n in range(args.long):
        dag_id = f"team{rng.randrange(TEAMS):02d}_etl_{rng.randrange(PER_KIND):03d}"
        if n == 0:
            dag_id = "team01_etl_001"  # its pattern and its exact subscription: one post
        plan.append((rng.uniform(5, span - 20), long_run(dag_id, n, rng.uniform(0, 10))))
    for n in range(args.queued):
        kind = "ml" if n % 2 == 0 else "billing"
        dag_id = f"team{rng.randrange(TEAMS):02d}_{kind}_{rng.randrange(PER_KIND):03d}"
        at, lead = rng.uniform(5, span - 20), rng.uniform(0, 10)
        if n % 2 == 0:
            plan.append((at, queued_run(dag_id, n, lead, holder=n % 4 == 0)))
        else:
            plan.append((at, queued_task(dag_id, n, lead)))
    for n in range(args.hitl):
        dag_id = f"team{rng.randrange(TEAMS):02d}_sync_{rng.randrange(PER_KIND):03d}"
        plan.append((rng.uniform(5, span - 20), hitl(dag_id, n)))
    plan.append((span / 2, import_error("dags/team04_etl_loader.py")))
    return sorted(plan, key=lambda p: p[0])


def _late_troubles(subs: Sequence[Sub], at: float, made: Sequence[Trouble]) -> list[Trouble]:
    """The DAGs a late subscription covers with no success in the day before the deadline."""
    won = {t.dag_id for t in made if t.event == "success" and t.holds_at <= at}
    found = []
    for s in subs:
        if "late" not in s.events:
            continue
        for dag_id in dag_ids():
            if fnmatchcase(dag_id, s.glob) and dag_id in NEVER_SUCCEEDED and dag_id not in won:
                found.append(Trouble("late", dag_id, None, at, {s.channel}))
    return found


def _posted_keys(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str, str | None], float]:
    """(channel, event, dag_id, run_id) -> when its post reached Slack (wall clock)."""
    found: dict[tuple[str, str, str, str | None], float] = {}
    for r in rows:
        if r["arrived"] is None or r["event"] in ("thread", "late:checked"):
            continue
        run = None if r["event"] in ("late", "import_errors") else r["run_id"]
        found[(r["channel_id"], r["event"], r["dag_id"], run)] = r["arrived"]
    return found


def _all_posted(flow: FlowBot, troubles: Sequence[Trouble]) -> bool:
    posted = _posted_keys(_events_rows(flow))
    return all((c, t.event, t.dag_id, t.run_id) in posted for t in troubles for c in t.channels)


def silent_report(o: SilentOutcome) -> str:
    posted = _posted_keys(o.rows)
    by_event: dict[str, list[float]] = {e: [] for e in EVENTS_ALL}
    expected = {(c, t.event, t.dag_id, t.run_id): t for t in o.troubles for c in t.channels}
    missed: Counter[str] = Counter()
    for key, t in expected.items():
        if key in posted:
            by_event[t.event].append(posted[key] - t.holds_at)
        else:
            missed[t.event] += 1
    unwanted = [k for k in posted if k not in expected]
    counts = Counter(
        (r["channel_id"], r["event"], r["dag_id"], r["run_id"])
        for r in o.rows
        if r["event"] not in ("thread", "late:checked")
    )
    dupes = sum(n - 1 for n in counts.values() if n > 1)
    goal = o.interval + 2
    watch_calls = [
        sum(n for k, n in c.items() if not k.startswith("failure")) for c in o.calls_per_round
    ]
    all_calls = [sum(c.values()) for c in o.calls_per_round]
    fail_calls = [a - w for a, w in zip(all_calls, watch_calls, strict=True)]
    listing_calls = [sum(c[k] for k in LISTINGS) for c in o.calls_per_round]
    detail_calls = [
        sum(n for k, n in c.items() if k.startswith("detail")) for c in o.calls_per_round
    ]
    kinds: Counter[str] = Counter()
    for c in o.calls_per_round:
        kinds.update(c)

    def mm(xs: Sequence[int]) -> str:
        return f"{statistics.mean(xs):.2f} / {max(xs)}" if xs else "-"

    def lat(xs: Sequence[float]) -> str:
        if not xs:
            return "-"
        return (f"{statistics.median(xs):.1f} / {percentile(xs, 99):.1f} / {max(xs):.1f} s "
                f"({len(xs)})")  # fmt: skip

    instant = [x for e in EVENTS_ALL if e != "late" for x in by_event[e]]
    rows = [
        ["Airflow calls a round, mean / max: the watch's (listings + details of new trouble)",
         mm(watch_calls), "≤ 5 / ≤ 7"],
        ["  of which the five listings (ended runs, hitl, active runs, waiting tasks, import "
         "errors)", mm(listing_calls), ""],
        [f"  of which details of new trouble (at most {DETAIL_CALLS} a round)", mm(detail_calls),
         ""],
        ["the failed runs' details (task instances + one log, per wanted failure), mean / max",
         mm(fail_calls), "(not in the goal)"],
        ["all calls a round, mean / max", mm(all_calls), ""],
    ]  # fmt: skip
    for e in EVENTS_ALL:
        rows.append([f"condition holds → post, p50 / p99 / max (posts): {e}", lat(by_event[e]),
                     f"p99 ≤ {goal} s"])  # fmt: skip
    rows += [
        ["the same, every event but late", lat(instant), f"p99 ≤ {goal} s"],
        ["RSS, MiB: start / after setup / peak (VmHWM)",
         f"{mib(o.rss_kib['start']):.1f} / {mib(o.rss_kib['after setup']):.1f} / "
         f"{mib(o.rss_kib['peak sampled during the run']):.1f} "
         f"({mib(o.rss_kib['VmHWM at the end']):.1f})", "≤ 150 MiB"],
        ["posts expected / made; duplicates / missed / not wanted",
         f"{len(expected)} / {len(posted)}; {dupes} / {sum(missed.values())} / {len(unwanted)}",
         "0 / 0 / 0"],
    ]  # fmt: skip
    table = markdown_table(["measure", "figure", "goal"], rows, numeric=())
    kinds_table = markdown_table(
        ["call", "all rounds", "per round"],
        [[k, str(n), f"{n / max(1, len(o.calls_per_round)):.2f}"] for k, n in kinds.most_common()],
        numeric=(1, 2),
    )
    by_kind = Counter(t.event for t in o.troubles)
    late_lat = by_event["late"]
    text = [
        f"# Every event: 5,000 DAGs, 100 subscriptions, {o.interval} s rounds",
        "",
        f"`WATCH_INTERVAL_SECONDS={o.interval}`, real time (no simulated clock: each trouble was "
        f"set up a few seconds before its condition began to hold, e.g. a run started "
        f"`long_after` minus 0-10 s ago). One deployment, Airflow 3.1's API (testkit.flow."
        f"ScriptedAirflow, in this process) with 5,000 DAGs and 10,000 runs that ended before "
        f"the watch began; 100 subscriptions over 10 channels from the config file, every event "
        f"named ({', '.join(EVENTS_ALL)}; `long_after: 30m`, `queued_after: 15m`, one `late` on "
        f"`{LATE_GLOB}` (10 DAGs) and one on `{LATE_EXACT}`, at a whole minute in {ZONE}). Over "
        f"{o.intervals} intervals: "
        + ", ".join(f"{n} {e}" for e, n in sorted(by_kind.items()))
        + f" (troubles made; {sum(len(t.channels) for t in o.troubles)} posts wanted). "
        f"{len(o.calls_per_round)} rounds measured, from the first after the watch began.",
        "",
        f"- Machine: {platform.platform()}, 2 cores shared with other workers; load average "
        f"{o.load_start} at the start, {o.load_end} at the end.",
        f"- Python {platform.python_version()}; a SQLite store; the Slack stand-in in process.",
        f"- Setup {o.setup_seconds:.0f} s (its first round: "
        + ", ".join(f"{k} {n}" for k, n in o.first_round_calls.most_common())
        + f"); the whole run {o.total_seconds:.0f} s; rounds took "
        f"{statistics.median(o.round_seconds):.2f} s (median), {max(o.round_seconds):.2f} s "
        "at most.",
        "",
        table,
        "",
        "*Condition holds*: a run's `end_date` (failed, success); its start plus `long_after` "
        "(long); its `queued_at`, or its task's `scheduled_when`, plus `queued_after` (queued); "
        "when the request or the import error was added to the scripted Airflow (hitl, "
        "import_errors); the deadline (late). *Post*: its arrival at the Slack stand-in. p99 is "
        "nearest-rank (of fewer than 100 posts, the slowest).",
        "",
        "## The calls, by kind",
        "",
        kinds_table,
        "",
    ]
    if missed:
        text += [f"Missed: {dict(missed)}.", ""]
    if late_lat:
        text += [
            f"The `late` deadline: its {len(late_lat)} posts came {min(late_lat):.0f}-"
            f"{max(late_lat):.0f} s after it. In the ten minutes before it the watch lists the "
            f"DAGs a pattern covers (a page of 100 per call) and asks Airflow once for the last "
            f"success of each it knows nothing of, within the {DETAIL_CALLS} detail calls a "
            "round; at the deadline, two calls of its own tell which are late.",
            "",
        ]
    return "\n".join(text)


# -- many deployments --------------------------------------------------------------------------


class Mute:
    """A server that accepts connections and never answers (an Airflow hung for good)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="mute-airflow", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)

    def __enter__(self) -> Mute:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for c in self._held:
            c.close()
        self._sock.close()


@dataclass
class ManyOutcome:
    interval: int
    intervals: int
    healthy: int
    slow: int
    mute: int
    slow_seconds: float
    load_start: str = ""
    load_end: str = ""
    ended: list[tuple[str, str, str, float]] = field(default_factory=list)  # dep, dag, run, end
    rows: list[dict[str, Any]] = field(default_factory=list)
    threads_max: int = 0
    round_threads_max: int = 0
    threads_start: int = 0
    leases: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # owner -> "first"/"second"
    rss_peak_kib: int = 0
    total_seconds: float = 0.0
    store: str = "postgresql"


@contextmanager
def many_airflows(healthy: int, slow: int, mute: int, slow_seconds: float) -> Iterator[
    tuple[dict[str, ScriptedAirflow], dict[str, str]]
]:  # fmt: skip
    """Each deployment's Airflow: name -> scripted (healthy, slow), and name -> URL (all)."""
    with ExitStack() as stack:
        scripted: dict[str, ScriptedAirflow] = {}
        urls: dict[str, str] = {}
        for i in range(healthy + slow):
            name = f"ok{i:02d}" if i < healthy else f"slow{i - healthy:02d}"
            a = stack.enter_context(ScriptedAirflow())
            for d in range(20):
                a.add_dag(f"{name}_dag_{d:02d}", failed_tasks=list(TASKS), logs={TASKS[0]: LOG})
            if i >= healthy:
                a.delay = slow_seconds
            scripted[name] = a
            urls[name] = a.url
        for i in range(mute):
            m = stack.enter_context(Mute())
            urls[f"mute{i:02d}"] = m.url
        yield scripted, urls


@contextmanager
def shared_store(kind: str) -> Iterator[str | None]:
    """The URL of a fresh PostgreSQL database on a server of its own, or None (SQLite)."""
    if kind == "sqlite":
        yield None
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("--store postgresql needs PostgreSQL (apt-get install postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        yield server.new_database()
    finally:
        server.stop()


def many_run(args: argparse.Namespace) -> ManyOutcome:
    healthy = args.deployments - args.slow_deployments - args.mute_deployments
    o = ManyOutcome(args.interval, args.intervals, healthy, args.slow_deployments,
                    args.mute_deployments, args.slow)  # fmt: skip
    o.load_start = load_average()
    rng = random.Random(args.seed)
    started = time.monotonic()
    o.threads_start = threading.active_count()
    with (
        tempfile.TemporaryDirectory() as tmp,
        many_airflows(healthy, args.slow_deployments, args.mute_deployments, args.slow) as (
            scripted, urls),
        shared_store(args.store) as database_url,
    ):  # fmt: skip
        lines = ["deployments:"]
        for name, url in urls.items():
            lines.append(f'  {name}: {{url: "{url}", token: "${{SCRIPTED_TOKEN}}", '
                         'api_version: "v2"}')  # fmt: skip
        lines += ["grants:", "  - {role: operator, users: [U0BENCH]}", "subscriptions:"]
        for name in urls:
            lines.append(f'  - {{channel: C0{name.upper()}, deployment: {name}, dags: ["*"], '
                         "events: [failed, success, long, queued, import_errors]}")  # fmt: skip
        config = "\n".join(lines) + "\n"
        env = {"WATCH_INTERVAL_SECONDS": str(args.interval)}
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        o.store = args.store
        with flow_bot(Path(tmp), config, env) as flow:
            second = flow.another_process()
            o.owners = {flow.local.bot.watcher.owner: "first",
                        second.local.bot.watcher.owner: "second"}  # fmt: skip
            store = flow.local.bot.store
            log(
                f"{len(urls)} deployments, two processes; waiting for the healthy ones' first round"
            )

            def started_all() -> bool:
                return all(
                    (s := store.watch_state(n)) is not None and s.watermark is not None
                    for n in scripted
                    if n.startswith("ok")
                )

            wait_for("the first rounds", started_all, 6 * args.interval + 30)
            # The slow ones start too (their first round takes a few slow calls).
            names = [n for n in scripted]
            span = args.interval * args.intervals
            plan = sorted(rng.uniform(0, span) for _ in range(args.rate * args.intervals))
            stop = threading.Event()
            peaks = {"threads": 0, "round": 0, "rss": 0}

            def sample() -> None:
                while not stop.is_set():
                    ts = threading.enumerate()
                    peaks["threads"] = max(peaks["threads"], len(ts))
                    peaks["round"] = max(peaks["round"],
                                         sum(1 for t in ts if t.name.startswith("watch-round")))  # fmt: skip
                    peaks["rss"] = max(peaks["rss"], status_kib("VmRSS"))
                    stop.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            log(f"ending {len(plan)} runs over {args.intervals} intervals of {args.interval} s")
            t0 = time.monotonic()
            for seq, at in enumerate(plan):
                delay = t0 + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                name = rng.choice(names)
                a = scripted[name]
                dag_id = f"{name}_dag_{rng.randrange(20):02d}"
                state = "failed" if rng.random() < 1 / 3 else "success"
                run = a.add_run(dag_id, state=state, dag_run_id=f"scheduled__m{seq:05d}")
                end = datetime.fromisoformat(str(run["end_date"])).timestamp()
                o.ended.append((name, dag_id, str(run["dag_run_id"]), end))
            log("all ended; waiting for the healthy ones' posts")

            def healthy_posted() -> bool:
                got = {(r["deployment"], r["run_id"]) for r in _events_rows(flow)
                       if r["arrived"] is not None}  # fmt: skip
                return all((d, run) in got for d, _, run, _ in o.ended if d.startswith("ok"))

            try:
                wait_for("the healthy posts", healthy_posted, 4 * args.interval + 30)
            except RuntimeError as exc:
                log(f"{exc}: counting what came")
            # The slow ones' posts: a round of theirs is several 5 s calls.
            try:
                wait_for("every post", lambda: _all_ended_posted(flow, o.ended),
                         args.drain)  # fmt: skip
            except RuntimeError as exc:
                log(f"{exc}: counting what came")
            time.sleep(2 * args.interval)  # a post made twice would show by then
            stop.set()
            sampler.join()
            o.threads_max, o.round_threads_max, o.rss_peak_kib = (
                peaks["threads"], peaks["round"], peaks["rss"])  # fmt: skip
            o.rows = _events_rows(flow)
            with store._db.connect() as conn:
                o.leases = {r.deployment: str(r.lease_owner)
                            for r in conn.execute(select(watch)).all()}  # fmt: skip
    o.total_seconds = time.monotonic() - started
    o.load_end = load_average()
    return o


def _all_ended_posted(flow: FlowBot, ended: Sequence[tuple[str, str, str, float]]) -> bool:
    got = {(r["deployment"], r["run_id"]) for r in _events_rows(flow) if r["arrived"] is not None}
    return all((d, run) in got for d, _, run, _ in ended)


def many_report(o: ManyOutcome) -> str:
    goal = o.interval + 2
    arrived: dict[tuple[str, str], list[float]] = {}
    for r in o.rows:
        if r["event"] in ("failed", "success"):
            arrived.setdefault((r["deployment"], r["run_id"]), []).append(r["arrived"])
    lat: dict[str, list[float]] = {"ok": [], "slow": []}
    missed: Counter[str] = Counter()
    for dep, _, run, end in o.ended:
        group = "ok" if dep.startswith("ok") else "slow"
        got = [a for a in arrived.get((dep, run), []) if a is not None]
        if got:
            lat[group].append(min(got) - end)
        else:
            missed[group] += 1
    dupes = sum(len(v) - 1 for v in arrived.values() if len(v) > 1)
    held = Counter(o.owners.get(owner, "none (lapsed)") for owner in o.leases.values())

    def ls(xs: Sequence[float]) -> str:
        if not xs:
            return "-"
        return (f"{statistics.median(xs):.1f} / {percentile(xs, 99):.1f} / {max(xs):.1f} s "
                f"({len(xs)})")  # fmt: skip

    table = markdown_table(
        ["measure", "figure", "goal"],
        [
            [f"run ended → post, p50 / p99 / max (posts): the {o.healthy} healthy deployments",
             ls(lat["ok"]), f"p99 ≤ {goal} s"],
            [f"the same, the {o.slow} answering in {o.slow_seconds:g} s", ls(lat["slow"]), ""],
            ["runs ended / posted, missed (healthy; slow)",
             f"{len(o.ended)} / {sum(len(lat[g]) for g in lat)}, {missed['ok']}; "
             f"{missed['slow']}", "0"],
            ["duplicate posts (two processes on one store)", str(dupes), "0"],
            ["threads of the watch's rounds, at most (both processes)", str(o.round_threads_max),
             f"≤ {2 * ROUND_THREADS} ({ROUND_THREADS} each)"],
            ["threads of the whole process, at most (at the start)",
             f"{o.threads_max} ({o.threads_start})", "bounded"],
            ["leases at the end, by holder", ", ".join(f"{k} {n}" for k, n in held.items()),
             "each deployment by one"],
            ["RSS of the process, peak sampled", f"{mib(o.rss_peak_kib):.1f} MiB", ""],
        ],
        numeric=(),
    )  # fmt: skip
    total = o.healthy + o.slow + o.mute
    return "\n".join(
        [
            f"# {total} deployments in one process, {o.slow + o.mute} of them slow or hung",
            "",
            f"`WATCH_INTERVAL_SECONDS={o.interval}`; {total} deployments, each its own scripted "
            f"Airflow 3 (20 DAGs, one `*` subscription for failed, success, long, queued and "
            f"import_errors): {o.healthy} healthy, {o.slow} answering every call in "
            f"{o.slow_seconds:g} s, {o.mute} that accept the connection and never answer (each call "
            f"ends at the client's 10 s timeout). Two bot processes (`FlowBot.another_process`: a "
            f"second bot on the same store, in this same OS process) share the leases; the "
            f"store {_store_words(o.store)}. "
            f"{len(o.ended)} runs ended at random over {o.intervals} intervals on the 48 that "
            f"answer, a third failed.",
            "",
            f"- Machine: {platform.platform()}, 2 cores shared with other workers; load average "
            f"{o.load_start} at the start, {o.load_end} at the end. Python "
            f"{platform.python_version()}. The whole run {o.total_seconds:.0f} s.",
            "",
            table,
            "",
            "*Threads of the whole process* counts everything in it: both bots (their Slack "
            "senders, followers, outbox), the 48 scripted Airflows' servers and their connection "
            "threads, the Slack stand-in.",
            "",
        ]
    )


def _store_words(kind: str) -> str:
    if kind == "sqlite":
        return "one SQLite file"
    return "a real PostgreSQL server (testkit.postgres_server), as several processes share it"


def silent_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("--scenario silent and many")
    g.add_argument("--long", type=int, default=4, help="silent: runs passing long_after")
    g.add_argument("--queued", type=int, default=4, help="silent: runs/tasks passing queued_after")
    g.add_argument("--hitl", type=int, default=3, help="silent: tasks waiting for a person")
    g.add_argument("--drain", type=float, default=240, help="seconds to wait for the last posts")
    g.add_argument("--deployments", type=int, default=50, help="many: deployments")
    g.add_argument("--slow-deployments", type=int, default=5, help="many: answering slowly")
    g.add_argument("--mute-deployments", type=int, default=2, help="many: never answering")
    g.add_argument("--slow", type=float, default=5.0, help="many: seconds per slow answer")
    g.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql",
                   help="many: the store both processes share (a real PostgreSQL server, as in "
                   "production; or one SQLite file)")  # fmt: skip


def run_silent(args: argparse.Namespace) -> None:
    text = silent_report(silent_run(args))
    print(text)
    if not args.no_write:
        RESULTS_SILENT.write_text(text)


def run_many(args: argparse.Namespace) -> None:
    text = many_report(many_run(args))
    print(text)
    if not args.no_write:
        RESULTS_MANY.write_text(text)
