"""What recording each command in the store before its ack would cost the ack.

    .venv/bin/python -m bench.ack_record_cost [-n 2000] [--warmup 200] [--threads 8]

Design A of durable commands: the request thread writes one row (an id, the request's
signature, its raw body, when it arrived) and commits it before acking, so that a command acked
but not yet done survives a deploy or a crash. This measures that write as the bot would make
it: the store's own engine (``bot.store.engine``: ``normalise_url``, ``engine_for``, its SQLite
settings and its PostgreSQL pool) used through ``Database.begin()``, one ``INSERT`` and its
commit per simulated ack, in a table shaped like design A's row made for the benchmark. Stores:

- a SQLite file on local disk, the default store;
- PostgreSQL started as the store tests start it (``testkit.postgres_server``: fsync off);
- the same server restarted with fsync on, PostgreSQL's default and a production server's.

And, for reference, no store: building the row only. Each is measured on one thread and with
``--threads`` threads recording at once (gunicorn's worker serves requests on several threads),
``-n`` records per case after ``--warmup`` not counted. The cases take turns, in ``--rounds``
rounds, so that other work on the machine weighs on all of them alike.

Writes ``bench/results/ack_record_cost.md`` (also printed). About 15 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import sqlalchemy
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, event, insert

from bench.ack_report import percentile
from bench.report import log, markdown_table
from bot.store import clock
from bot.store.engine import Database, engine_for, normalise_url
from testkit.bot_process import ROOT
from testkit.postgres_server import PostgresServer, _bin_dir

DEFAULT_RECORDS = 2000
DEFAULT_WARMUP = 200
DEFAULT_THREADS = 8
DEFAULT_ROUNDS = 10
RULE_MS = 1.0
"""Durability may not cost the ack more than this at p50."""
BODY_SIZES = (1024, 4096)
"""A slash command's form body is about 1 KB; a button click's JSON payload up to about 4 KB."""
DISTINCT_BODIES = 97

# Design A's row, in a table of its own: the bot's schema has no such table (yet).
bench_metadata = MetaData()
received_command = Table(
    "bench_received_command",
    bench_metadata,
    Column("id", String(32), primary_key=True),
    Column("signature", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


def new_row(signature: str, body: str) -> dict[str, Any]:
    """What the request thread would build before writing: an id made as stored actions make
    theirs, the signature cut as the replay check cuts it, and the arrival time."""
    return {
        "id": secrets.token_hex(12),
        "signature": signature[:80],
        "body": body,
        "received_at": clock.now(),
    }


def slash_body(size: int, n: int) -> str:
    """A slash command's form body as Slack sends it, its text padded to ``size`` bytes."""
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0BENCH01",
        "team_domain": "bench",
        "channel_id": f"C0BENCH{n:04d}",
        "channel_name": "airflow-ops",
        "user_id": "U0ALICE01",
        "user_name": "alice",
        "command": "/airflow",
        "text": "trigger prod etl_daily ",
        "api_app_id": "A0BENCH01",
        "is_enterprise_install": "false",
        "response_url": f"https://hooks.slack.com/commands/T0BENCH01/{n:012d}/{'x' * 24}",
        "trigger_id": f"{n:013d}.1234567890.{'f' * 32}",
    }
    base = len(urlencode(fields))
    fields["text"] += secrets.token_hex(max(0, size - base) // 2 + 1)[: max(0, size - base)]
    return urlencode(fields)


# -- the subjects -------------------------------------------------------------------------------


@dataclass(eq=False)
class Subject:
    """Where a simulated ack records its command: ``db`` None builds the row only."""

    label: str
    db: Database | None = None
    settings: str = ""
    connections: int = 0
    """Connections the engine has opened (counted by its ``connect`` listener)."""
    _counting: threading.Lock = field(default_factory=threading.Lock)

    def record(self, signature: str, body: str) -> None:
        row = new_row(signature, body)
        if self.db is not None:
            # As bot/store/replays.py writes a row: a transaction of its own, committed here.
            with self.db.begin() as conn:
                conn.execute(insert(received_command).values(**row))

    def opened(self, *_: Any) -> None:
        with self._counting:
            self.connections += 1


def store_subject(label: str, url: str, settings: str) -> Subject:
    engine = engine_for(normalise_url(url))
    bench_metadata.create_all(engine)
    subject = Subject(label, Database(engine), settings)
    # A listener of its own, beside the engine's: a pool that closes and reopens connections
    # shows here, and the engine's own listeners work as in the bot.
    event.listen(engine, "connect", subject.opened)
    return subject


class DurablePostgres(PostgresServer):
    """The tests' server restarted with fsync on (PostgreSQL's default, and any production
    server's): a commit then returns once its WAL record is on disk."""

    def start(self) -> DurablePostgres:
        super().start()
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
            "-w", "-t", "60", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "restart",
        )  # fmt: skip
        return self


def pg_settings(server: PostgresServer) -> str:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("server_version", "fsync", "synchronous_commit")
        }
    values = {name: row[0] if row else "?" for name, row in shown.items()}
    return (
        f"PostgreSQL {values['server_version'].split()[0]}, fsync={values['fsync']}, "
        f"synchronous_commit={values['synchronous_commit']}, over TCP on 127.0.0.1"
    )


def statements_per_record(server: PostgresServer, subject: Subject, records: int = 5) -> float:
    """The messages one record sends PostgreSQL, each a round trip (read from the server's
    statement log): over a network every one of them costs the ack the round-trip time."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the reload reaches the backends at their next command
    subject.record("v0=warm", "warm")  # each pooled connection's backend rereads its config
    start = server.log_path.stat().st_size
    for n in range(records):
        subject.record(f"v0=count{n}", "counted")
    time.sleep(0.2)
    with server.log_path.open("rb") as logged:
        logged.seek(start)
        text = logged.read().decode(errors="replace")
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET log_statement")
        conn.execute("SELECT pg_reload_conf()")
    return len(re.findall(r"LOG:\s+(?:statement|execute [^:]*):", text)) / records


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Case:
    subject: Subject
    threads: int
    latencies_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the measured inserts, summed over the rounds."""
    connections: int = 0
    """Connections the engine opened during the measured inserts."""
    warmed: bool = False

    def ms(self, p: float) -> float:
        return percentile(sorted(self.latencies_ns), p) / 1e6


def run_round(case: Case, records: int, warmup: int, bodies: Sequence[str]) -> None:
    """``records`` simulated acks over ``case.threads`` threads, all recording at once."""
    threads = case.threads
    tag = secrets.token_hex(4)
    per_thread = [records // threads + (k < records % threads) for k in range(threads)]
    warm_each = 0 if case.warmed else max(1, warmup // threads)
    at_start: list[float] = []

    def start_clock() -> None:
        # Run once every thread has arrived and before any is released: nothing of the
        # warm-up is counted, nothing of the measured part missed.
        at_start.extend((time.perf_counter(), case.subject.connections))

    barrier = threading.Barrier(threads + 1, action=start_clock)
    latencies: list[list[int]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(warm_each):
                case.subject.record(f"v0={tag}w{k}x{i}", bodies[i % len(bodies)])
            # Signatures are made before the clock starts: Slack sends one with each request.
            signatures = [f"v0={tag}{k:02d}{i:06d}".ljust(67, "0") for i in range(per_thread[k])]
            barrier.wait()
            mine = latencies[k]
            for i, signature in enumerate(signatures):
                body = bodies[(k * 31 + i) % len(bodies)]
                started = time.perf_counter_ns()
                case.subject.record(signature, body)
                mine.append(time.perf_counter_ns() - started)
        except Exception as exc:
            failures.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()  # broken when a worker failed: its error is raised below
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    started, connects_before = at_start
    case.seconds += time.perf_counter() - started
    case.connections += case.subject.connections - int(connects_before)
    case.warmed = True
    for mine in latencies:
        case.latencies_ns.extend(mine)


# -- the report ---------------------------------------------------------------------------------

HEADERS = ["store", "threads", "p50 ms", "p90 ms", "p99 ms", "max ms", "p50 added ms",
           "records/s", "connections opened"]  # fmt: skip


def fmt(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def table(cases: Sequence[Case]) -> str:
    baseline = {c.threads: c.ms(50) for c in cases if c.subject.db is None}
    rows = []
    for c in cases:
        added = "-" if c.subject.db is None else fmt(c.ms(50) - baseline[c.threads])
        rows.append(
            [
                c.subject.label,
                str(c.threads),
                *(fmt(c.ms(p)) for p in (50, 90, 99, 100)),
                added,
                f"{len(c.latencies_ns) / c.seconds:,.0f}",
                "-" if c.subject.db is None else str(c.connections),
            ]
        )
    return markdown_table(HEADERS, rows, numeric=range(1, len(HEADERS)))


def verdicts(cases: Sequence[Case], threads: int) -> list[str]:
    baseline = {c.threads: c.ms(50) for c in cases if c.subject.db is None}
    lines = []
    for subject in dict.fromkeys(c.subject for c in cases if c.subject.db is not None):
        one, many = (
            next(c for c in cases if c.subject is subject and c.threads == n) for n in (1, threads)
        )
        added_one = one.ms(50) - baseline[1]
        added_many = many.ms(50) - baseline[threads]
        within = [added <= RULE_MS for added in (added_one, added_many)]
        verdict = (
            "within the rule"
            if all(within)
            else "over the rule"
            if not any(within)
            else f"within the rule on one thread, over it with {threads}"
            if within[0]
            else f"over the rule on one thread, within it with {threads}"
        )
        lines.append(
            f"- **{subject.label}**: adds {added_one:.2f} ms to the ack at p50 on one thread, "
            f"{added_many:.2f} ms with {threads} threads recording at once: {verdict} "
            f"({RULE_MS:g} ms at p50)."
        )
    return lines


def fs_type(path: Path) -> str:
    """The file system holding ``path`` (the longest mount point above it in /proc/mounts)."""
    best = ("", "?", "?")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "?"
    resolved = str(path.resolve())
    for line in mounts:
        device, point, kind, *_ = line.split()
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best[0]):
            best = (point, kind, device)
    return f"{best[1]} on {best[2]}"


def document(
    cases: Sequence[Case],
    *,
    started_at: datetime,
    seconds: float,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    args: argparse.Namespace,
    sqlite_where: str,
    round_trips: float | None,
) -> str:
    stores = [c.subject for c in cases if c.threads == 1 and c.subject.db is not None]
    return "\n".join(
        [
            "# What recording each command before its ack costs the ack (design A)",
            "",
            f"Measured {started_at:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m "
            f"bench.ack_record_cost` (the whole run took {seconds:.0f} s).",
            "",
            f"- Machine: {platform.platform()}, {os.cpu_count()} cores; load average "
            f"(1/5/15 min) at the start {'/'.join(f'{v:.2f}' for v in load_start)}, at the end "
            f"{'/'.join(f'{v:.2f}' for v in load_end)}: other work on the machine would show in it.",
            f"- Python {platform.python_version()}; SQLAlchemy {sqlalchemy.__version__}, "
            f"psycopg {psycopg.__version__}, SQLite {sqlite3.sqlite_version}.",
            *(f"- {s.label}: {s.settings}" for s in stores),
            "",
            table(cases),
            "",
            *verdicts(cases, args.threads),
            "",
            "Method:",
            "",
            f"- One simulated ack is: build design A's row (an id of 24 hex characters, the "
            f"request's signature, its raw body of {BODY_SIZES[0]:,}-{BODY_SIZES[1]:,} bytes, "
            "the time), then `with db.begin() as conn: conn.execute(insert(...).values(...))`: "
            "one INSERT and its commit through the store's own engine (`bot.store.engine`: "
            "`normalise_url`, `engine_for`, `Database`), as `Store.first_time` writes a row. "
            "The table (`bench_received_command`: id primary key, signature, body as text, "
            "received_at) is made for the benchmark; it has no other index. *no store* builds "
            "the row only: the ack's cost without design A. *p50 added*: the store's p50 minus "
            "no store's p50 at the same number of threads.",
            f"- Per case {args.records:,} records timed one by one (`perf_counter_ns`), after "
            f"{args.warmup:,} not counted (connections opened, statements compiled). With "
            f"{args.threads} threads, each records {args.records // args.threads:,} back to back, "
            "all starting together: every request thread of a gunicorn worker recording at "
            "once, the worst case; times include waiting for the GIL, the pool and the "
            "database's locks, as an ack's would. The cases take turns in "
            f"{args.rounds} rounds of {args.records // args.rounds:,}, so that other work on "
            "the machine weighs on each alike. *records/s*: records over the measured wall time.",
            f"- With {args.threads} threads recording back to back the store is saturated: each "
            "record waits for the others' turns (the database's, and the 2 cores that the "
            f"threads and the database share), so a p50 near {args.threads} / *records/s* is "
            "queueing, what a burst of commands would meet, and one thread's figures are what "
            "an ack meets when acks do not coincide. On SQLite a writer waiting for the write "
            "lock sleeps in SQLite's busy handler (1, 2, 5, 10, ... ms) rather than queueing, "
            "which makes its tail.",
            f"- *connections opened*: new connections the engine made while measured. The "
            "store's pool keeps 5 (SQLAlchemy's default for a SQLite file, `pool_size=5` for "
            f"PostgreSQL): with {args.threads} threads the ones beyond 5 are opened and closed "
            "again, as in the bot when more than 5 threads use the store at once.",
            f"- {stores[0].label if stores else 'SQLite'}: a file in a new temporary directory "
            f"({sqlite_where}), the bot's settings (WAL, `synchronous=NORMAL`, `BEGIN "
            "IMMEDIATE`): a commit is written to the WAL without an fsync, so it survives the "
            "process being killed (kill -9) but not the machine losing power. On Heroku the "
            "SQLite file is on the dyno's disk and emptied at every restart (README), so "
            "there design A needs PostgreSQL to survive a deploy at all.",
            "- PostgreSQL: started by `testkit.postgres_server` as the store tests "
            "start it (fsync off: a commit is not flushed to disk), and a second server "
            "restarted with fsync on, PostgreSQL's default, which a production server keeps. "
            "Both on this machine, reached over TCP on 127.0.0.1: no network between them.",
            *(
                [
                    f"- Each record sends PostgreSQL {round_trips:g} statements, one round "
                    "trip each (counted in the server's statement log: the pool's pre-ping, an "
                    "empty statement; BEGIN; the INSERT; COMMIT). Against a database on another "
                    "host each adds the network's round-trip time to the ack: at 0.25-1 ms (one "
                    f"cloud region), {round_trips * 0.25:g}-{round_trips:g} ms more than here."
                ]
                if round_trips
                else []
            ),
            "",
        ]
    )


# -- the run ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_record_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--records", type=int, default=DEFAULT_RECORDS, help="per case")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="per case, not timed")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    bin_dir = _bin_dir()
    if bin_dir is None:
        parser.error("PostgreSQL is not installed (apt-get install postgresql)")

    started_at = datetime.now(UTC)
    began = time.monotonic()
    load_start = os.getloadavg()
    log(f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-ack-record-"))
    sizes = range(BODY_SIZES[0], BODY_SIZES[1] + 1, (BODY_SIZES[1] - BODY_SIZES[0]) // 16)
    bodies = [slash_body(sizes[n % len(sizes)], n) for n in range(DISTINCT_BODIES)]
    servers: list[PostgresServer] = []
    subjects: list[Subject] = []
    try:
        log("starting PostgreSQL twice (testkit.postgres_server): fsync off, fsync on")
        tests_pg = PostgresServer(bin_dir).start()
        servers.append(tests_pg)
        durable_pg = DurablePostgres(bin_dir).start()
        servers.append(durable_pg)
        sqlite_file = run_dir / "chatops.db"
        subjects = [
            Subject("no store", settings="the row built, nothing written"),
            store_subject(
                "SQLite file",
                f"sqlite:///{sqlite_file}",
                f"the bot's settings, a file on {fs_type(run_dir)}",
            ),
            store_subject(
                "PostgreSQL, fsync off (as the tests run it)",
                tests_pg.new_database(),
                pg_settings(tests_pg),
            ),
            store_subject(
                "PostgreSQL, fsync on", durable_pg.new_database(), pg_settings(durable_pg)
            ),
        ]
        cases = [Case(s, n) for s in subjects for n in (1, args.threads)]
        for r in range(args.rounds):
            per_round = args.records // args.rounds + (r < args.records % args.rounds)
            for case in cases:
                run_round(case, per_round, args.warmup, bodies)
            log(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}")
        for case in cases:
            log(
                f"{case.subject.label}, {case.threads} thread(s): p50 {case.ms(50):.3f} ms, "
                f"p99 {case.ms(99):.3f} ms, max {case.ms(100):.3f} ms"
            )
        round_trips = statements_per_record(durable_pg, subjects[-1])
        log(f"PostgreSQL: {round_trips:g} statements per record")
        load_end = os.getloadavg()
    finally:
        for subject in subjects:
            if subject.db is not None:
                subject.db.engine.dispose()
        for server in servers:
            server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)

    text = document(
        cases,
        started_at=started_at,
        seconds=time.monotonic() - began,
        load_start=load_start,
        load_end=load_end,
        args=args,
        sqlite_where=fs_type(run_dir.parent),
        round_trips=round_trips,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ack_record_cost.md").write_text(text)
    print(text)
    log(f"wrote {args.out / 'ack_record_cost.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
