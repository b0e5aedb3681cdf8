"""Our Airflow client against the official ``apache-airflow-client``, on the same real server.

    .venv/bin/python -m bench.client_vs_official [--majors 3,2] [--rounds 5] [--threads 8]
        [--list-calls 200] [--get-calls 200] [--trigger-calls 100]

For each Airflow major version, it starts a real Airflow on 127.0.0.1 (``testkit.airflow_harness``,
no scheduler) with the test DAGs and filler DAGs enough for a full page of 20, and measures
calls per second of three operations through both clients:

* ``list``: one page of 20 DAGs ordered by id (``GET /dags?limit=20&offset=0&order_by=dag_id``);
* ``get``: one DAG (``GET /dags/etl_daily``);
* ``trigger``: a new run of the paused ``manual_only`` with a unique run id and logical date
  (``POST /dags/manual_only/dagRuns``): created and queued, never executed.

Each is timed from one thread (N calls one after the other) and from ``--threads`` threads
sharing one client (the same N calls, each thread taking the next as it is free). The machine is
shared and noisy, so the two clients are interleaved: every round runs each (operation, threads)
cell with one client right after the other, the order swapped every round, and the report gives
the median over rounds and the median of the per-round ratios ours/official.

Subjects:

* ``ours``: ``bot.airflow.AirflowClient`` built as the bot builds it (``bot.airflow.clients.client_for``),
  username and password: basic auth on Airflow 2, a ``POST /auth/token`` JWT on Airflow 3.
* ``official`` on Airflow 3: apache-airflow-client 3.x in this venv, as its README shows it: a JWT
  from ``POST /auth/token`` (with ``requests``) set as the ``Configuration``'s ``access_token``,
  one ``ApiClient`` shared by every thread.
* ``official`` on Airflow 2: apache-airflow-client 2.x with basic auth, installed into a venv of
  its own (the two majors cannot share one) and run there by ``bench/official_v2_worker.py``.

Also measured apart, as the first-call cost: importing each client in a fresh interpreter, and
building a fresh client up to its first page (auth, version detection, connecting).

Writes ``bench/results/client_vs_official.md`` (also printed) and ``client_vs_official.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import requests

from bench.ack_subjects import start_bench_airflow
from bench.dag_files import dags_folder
from bench.official_v2_worker import (
    GET_DAG_ID,
    LIST_LIMIT,
    TRIGGER_DAG_ID,
    Timing,
    logical_date,
    run_id,
    time_calls,
)
from bench.report import log, markdown_table, pyplot
from bot.airflow import AirflowClient
from bot.airflow.clients import client_for
from bot.config import Deployment
from testkit.airflow_harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    AirflowServer,
    cache_dir,
)

ROOT = Path(__file__).resolve().parent.parent
OPS = ("list", "get", "trigger")
OP_LABELS = {"list": "list (page of 20)", "get": "get one DAG", "trigger": "trigger"}
OURS, OFFICIAL = "ours", "official"
DEFAULT_CALLS = {"list": 200, "get": 200, "trigger": 100}
DEFAULT_ROUNDS = 5
DEFAULT_THREADS = 8
DEFAULT_MAJORS = (3, 2)
DEFAULT_AIRFLOW2_SHARE = 0.2
"""Airflow 2 makes this share of the calls: its webserver answers about 8 calls a second here
(basic auth checks the password's scrypt hash on every request, ~0.1 s of its CPU), so the same
counts as on Airflow 3 would take it over 20 minutes."""
WARM_UP_CALLS = 5

CONCURRENT_TRIGGER_ON_SQLITE = (
    "not measured: the Airflow 3.3 api-server on SQLite (the test harness's database) fails "
    "concurrent triggers itself, whichever client sends them: a few `INSERT INTO dag_run` go "
    "through, the others answer 500 after SQLite's 5 s lock timeout (16 triggers from 8 threads: "
    "10 failed with ours, the same with the official client)"
)


def skip_reason(major: int, what: str, threads: int) -> str | None:
    """Why a cell is not measured, or None. Airflow 2's webserver (one sync gunicorn worker)
    takes one request at a time, so concurrent triggers never meet in SQLite there."""
    if major == 3 and what == "trigger" and threads > 1:
        return CONCURRENT_TRIGGER_ON_SQLITE
    return None


FIRST_CALL_SAMPLES = 5
IMPORT_SAMPLES = 3

OFFICIAL_V2_VERSION = "2.10.0"
"""The last apache-airflow-client 2.x, for Airflow 2's /api/v1."""
WORKER = ROOT / "bench" / "official_v2_worker.py"

FILLER_DAGS = 16
"""With the 9 test DAGs, 25: more than a page, so every ``list`` call returns a full page of 20."""


# -- the subjects -------------------------------------------------------------------------------


class Subject(Protocol):
    name: str
    """``ours`` or ``official``."""
    package: str
    """What it is, for the report: ``apache-airflow-client 3.3.2``."""

    def first_call(self) -> float:
        """Seconds from building a fresh client to its first page of DAGs."""

    def measure(self, what: str, *, calls: int, threads: int, seq: int) -> Timing:
        """``time_calls`` of operation ``what`` with the subject's long-lived client."""

    def close(self) -> None: ...


class Ours:
    name = OURS
    package = "bot.airflow.AirflowClient"

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = self._build()

    def _build(self) -> AirflowClient:
        # As the bot builds it for a deployment with a username and password (pool of 32
        # connections, at most 16 calls in flight, 10 s read timeout).
        return client_for(
            Deployment(name="bench", url=self._url, username=ADMIN_USER, password=ADMIN_PASSWORD)
        )

    def _call(self, client: AirflowClient, what: str) -> Callable[[int], object]:
        def list_dags(_: int) -> object:
            return client.list_dags(limit=LIST_LIMIT, offset=0)

        def get_dag(_: int) -> object:
            return client.get_dag(GET_DAG_ID)

        def trigger(n: int) -> object:
            return client.trigger(
                TRIGGER_DAG_ID, logical_date=logical_date(n), run_id=run_id(n), conf={}
            )

        return {"list": list_dags, "get": get_dag, "trigger": trigger}[what]

    def first_call(self) -> float:
        began = time.perf_counter()
        client = self._build()
        try:
            self._call(client, "list")(0)
            return time.perf_counter() - began
        finally:
            client.close()

    def measure(self, what: str, *, calls: int, threads: int, seq: int) -> Timing:
        return time_calls(self._call(self._client, what), calls=calls, threads=threads, seq=seq)

    def close(self) -> None:
        self._client.close()


class OfficialV3:
    """apache-airflow-client 3.x, in this process."""

    name = OFFICIAL

    def __init__(self, url: str) -> None:
        self._url = url
        self.package = (
            f"apache-airflow-client {importlib.metadata.version('apache-airflow-client')}"
        )
        self._api, self._dags, self._runs = self._build()

    def _build(self) -> tuple[Any, Any, Any]:
        # Imported here: it takes most of a second (hundreds of pydantic models), which
        # `import_seconds` measures apart; runs against Airflow 2 alone need not pay it.
        from airflow_client.client import ApiClient, Configuration, DAGApi, DagRunApi

        # The README's way: the client knows no /auth/token, so the caller gets a JWT itself
        # and sets it once; it is neither cached for other clients nor renewed on expiry.
        resp = requests.post(
            f"{self._url}/auth/token",
            json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        resp.raise_for_status()
        config = Configuration(host=self._url, access_token=resp.json()["access_token"])
        # One ApiClient shared by every thread, as ours is: its urllib3 PoolManager is
        # thread-safe, and its pool (5 per core by default, 10 here) outnumbers the threads.
        api = ApiClient(config)
        return api, DAGApi(api), DagRunApi(api)

    def _call(self, dags: Any, runs: Any, what: str) -> Callable[[int], object]:
        from airflow_client.client import TriggerDAGRunPostBody

        def list_dags(_: int) -> object:
            return dags.get_dags(limit=LIST_LIMIT, offset=0, order_by=["dag_id"])

        def get_dag(_: int) -> object:
            return dags.get_dag(GET_DAG_ID)

        def trigger(n: int) -> object:
            body = TriggerDAGRunPostBody(
                dag_run_id=run_id(n), logical_date=logical_date(n), conf={}
            )
            return runs.trigger_dag_run(TRIGGER_DAG_ID, body)

        return {"list": list_dags, "get": get_dag, "trigger": trigger}[what]

    def first_call(self) -> float:
        began = time.perf_counter()
        api, dags, runs = self._build()
        try:
            self._call(dags, runs, "list")(0)
            return time.perf_counter() - began
        finally:
            close_api_client(api)

    def measure(self, what: str, *, calls: int, threads: int, seq: int) -> Timing:
        call = self._call(self._dags, self._runs, what)
        return time_calls(call, calls=calls, threads=threads, seq=seq)

    def close(self) -> None:
        close_api_client(self._api)


def close_api_client(api: Any) -> None:
    # The 3.x ApiClient has no close(), and its context manager's exit does nothing: the
    # connections are its urllib3 pool's to drop.
    api.rest_client.pool_manager.clear()


def official_v2_venv() -> Path:
    """The venv of apache-airflow-client 2.x, installed once into the harness's cache.

    Installed with the project's constraints, so urllib3 (which both clients' connections go
    through) and python-dateutil are the same versions as in the project's venv.
    """
    constraints = ROOT / "constraints.txt"
    fingerprint = json.dumps(
        {
            "client": OFFICIAL_V2_VERSION,
            "constraints": hashlib.sha256(constraints.read_bytes()).hexdigest(),
            "python": sys.version,
        }
    )
    venv = cache_dir() / f"bench-airflow-client-{OFFICIAL_V2_VERSION}"
    marker = venv / ".chatops-installed"
    with contextlib.suppress(OSError):
        if marker.read_text() == fingerprint:
            return venv
    log(f"installing apache-airflow-client {OFFICIAL_V2_VERSION} into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    venv.mkdir(parents=True)
    # The project's constraints pin the 3.x client (and pydantic) for this venv's neighbour:
    # everything else they pin applies here too.
    pins = [
        line
        for line in constraints.read_text().splitlines()
        if not line.lower().startswith("apache-airflow-client==")
    ]
    own_constraints = venv.with_name(venv.name + "-constraints.txt")
    own_constraints.write_text("\n".join(pins) + "\n")
    for command in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "--progress-bar", "off", "-c", str(own_constraints),
         f"apache-airflow-client=={OFFICIAL_V2_VERSION}"],
    ):  # fmt: skip
        # pip's output only matters when it fails.
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    # Written last: an interrupted install is redone next time.
    marker.write_text(fingerprint)
    return venv


class OfficialV2Process:
    """apache-airflow-client 2.x in its own venv, driven over ``bench/official_v2_worker.py``'s
    stdin and stdout. Only the worker's own timing counts, so the pipe costs nothing measured."""

    name = OFFICIAL
    package = f"apache-airflow-client {OFFICIAL_V2_VERSION}"

    def __init__(self, url: str, venv: Path, log_path: Path) -> None:
        self._log_path = log_path
        self._stderr = log_path.open("w")
        self._popen = subprocess.Popen(
            [str(venv / "bin" / "python"), str(WORKER), url, ADMIN_USER],
            env={**os.environ, "AIRFLOW_PASSWORD": ADMIN_PASSWORD},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self._popen.stdin
        stdout: IO[str] | None = self._popen.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            self._stderr.flush()
            raise RuntimeError(
                f"the apache-airflow-client {OFFICIAL_V2_VERSION} worker exited:\n"
                f"{self._log_path.read_text()[-3000:]}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def first_call(self) -> float:
        return float(self._ask({"op": "first_call"})["seconds"])

    def measure(self, what: str, *, calls: int, threads: int, seq: int) -> Timing:
        answer = self._ask(
            {"op": "measure", "what": what, "calls": calls, "threads": threads, "seq": seq}
        )
        return Timing(**answer)

    def close(self) -> None:
        if self._popen.stdin is not None:
            self._popen.stdin.close()  # the worker's loop ends at end of input
        try:
            self._popen.wait(10)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait(10)
        self._stderr.close()


def import_seconds(python: str, modules: str) -> float:
    """Median time to import ``modules`` in a fresh interpreter: what a new process pays first."""
    code = (
        "import time; began = time.perf_counter(); import "
        + modules
        + "; print(time.perf_counter() - began)"
    )
    samples = [
        float(
            subprocess.run(
                [python, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
            ).stdout
        )
        for _ in range(IMPORT_SAMPLES)
    ]
    return statistics.median(samples)


# -- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    major: int
    what: str
    threads: int


@dataclass
class Measured:
    """Every round's timing of one cell, for both subjects, in the order they were taken."""

    cell: Cell
    calls: int
    rounds: list[dict[str, Timing]] = field(default_factory=list)

    def per_second(self, subject: str) -> float:
        return statistics.median(r[subject].per_second for r in self.rounds)

    def ratios(self) -> list[float]:
        """Per round, ours/official: each pair was measured back to back, under the same load."""
        return [
            r[OURS].per_second / r[OFFICIAL].per_second
            for r in self.rounds
            if r[OFFICIAL].per_second > 0
        ]

    def cpu_us_per_call(self, subject: str) -> float:
        """The client process's CPU per call (median over rounds), in microseconds: what the
        client itself costs, whatever the server and the rest of the machine do."""
        return statistics.median(
            r[subject].cpu_seconds / max(1, r[subject].calls) * 1e6 for r in self.rounds
        )

    def errors(self, subject: str) -> tuple[int, str]:
        timings = [r[subject] for r in self.rounds]
        first = next((t.first_error for t in timings if t.first_error), "")
        return sum(t.errors for t in timings), first


@dataclass
class FirstCall:
    major: int
    subject: str
    package: str
    import_seconds: float
    first_call_seconds: list[float]


@dataclass
class MajorRun:
    major: int
    airflow_version: str
    packages: dict[str, str]
    measured: list[Measured]
    skipped: list[tuple[Cell, str]]
    first_calls: list[FirstCall]
    seconds: float


def write_dags_folder(path: Path) -> Path:
    return dags_folder(
        path,
        prefix="bench_filler_",
        count=FILLER_DAGS,
        doc="Filler DAGs written by bench.client_vs_official, so that a page of 20 DAGs is full.",
        description="Filler DAG {i} for the client benchmark",
        schedule="@daily",
        tags=("bench", "filler"),
    )


def check_page(airflow: AirflowServer) -> None:
    """Make sure the page is full, so both clients parse 20 DAGs per ``list``."""
    client = AirflowClient(base_url=airflow.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    try:
        page = client.list_dags(limit=LIST_LIMIT)
    finally:
        client.close()
    if len(page.dags) != LIST_LIMIT:
        raise RuntimeError(f"a page holds {len(page.dags)} DAGs, not {LIST_LIMIT}")


def run_major(
    major: int,
    *,
    run_dir: Path,
    rounds: int,
    threads: int,
    calls: dict[str, int],
    seq: list[int],
) -> MajorRun:
    began = time.monotonic()
    venv = official_v2_venv() if major == 2 else None
    log(f"starting Airflow {major} (testkit.airflow_harness, no scheduler)")
    # The same room in Airflow 3's database pool as bench.ack_latency gives it: with the
    # default 5 + 10, its api-server can freeze for good under ~24 concurrent calls.
    airflow = start_bench_airflow(
        major, run_dir / f"airflow{major}", dags_folder=write_dags_folder(run_dir / f"dags{major}")
    )
    subjects: list[Subject] = []
    try:
        ours = Ours(airflow.url)
        subjects.append(ours)
        official: Subject
        if venv is None:
            official = OfficialV3(airflow.url)
        else:
            official = OfficialV2Process(airflow.url, venv, run_dir / "official_v2_worker.log")
        subjects.append(official)
        check_page(airflow)

        def next_seq(count: int) -> int:
            # Run ids and logical dates are unique across the whole run, both clients alike.
            start = seq[0]
            seq[0] += count
            return start

        log("warming up: auth, API version and connections settled before anything is timed")
        for subject in subjects:
            for what in OPS:
                timing = subject.measure(
                    what, calls=WARM_UP_CALLS, threads=1, seq=next_seq(WARM_UP_CALLS)
                )
                if timing.errors:
                    raise RuntimeError(f"{subject.name} {what} failed: {timing.first_error}")

        log("first calls: fresh clients, interleaved")
        samples: dict[str, list[float]] = {s.name: [] for s in subjects}
        for i in range(FIRST_CALL_SAMPLES):
            for subject in subjects if i % 2 == 0 else subjects[::-1]:
                samples[subject.name].append(subject.first_call())
        official_python = str(venv / "bin" / "python") if venv else sys.executable
        official_modules = (
            "airflow_client.client.api.dag_api, airflow_client.client.api.dag_run_api, "
            "airflow_client.client.model.dag_run"
            if venv
            else "airflow_client.client"
        )
        first_calls = [
            FirstCall(
                major, OURS, ours.package, import_seconds(sys.executable, "bot.airflow"),
                samples[OURS],
            ),
            FirstCall(
                major, OFFICIAL, official.package,
                import_seconds(official_python, official_modules), samples[OFFICIAL],
            ),
        ]  # fmt: skip

        cells = [Cell(major, what, t) for what in OPS for t in sorted({1, threads})]
        skipped = [(c, why) for c in cells if (why := skip_reason(major, c.what, c.threads))]
        measured = [
            Measured(c, calls[c.what]) for c in cells if not skip_reason(major, c.what, c.threads)
        ]
        for r in range(rounds):
            # Swapped every round, so neither client is always the one measured second.
            order = subjects if r % 2 == 0 else subjects[::-1]
            for m in measured:
                timings: dict[str, Timing] = {}
                for subject in order:
                    timings[subject.name] = subject.measure(
                        m.cell.what, calls=m.calls, threads=m.cell.threads, seq=next_seq(m.calls)
                    )
                m.rounds.append(timings)
                # A dead server makes every later call fail fast, which would still fill the
                # table (with errors); stop instead, with its logs. It happened: the 3.3
                # api-server once died of a segfault in libpython here, in the middle of a run.
                if not airflow.is_running():
                    raise RuntimeError(f"Airflow {major} stopped during the run:\n{airflow.logs()}")
            log(
                f"Airflow {major} round {r + 1}/{rounds}: "
                + ", ".join(
                    f"{m.cell.what}x{m.cell.threads} "
                    f"{m.rounds[-1][OURS].per_second:.0f}/{m.rounds[-1][OFFICIAL].per_second:.0f}"
                    for m in measured
                )
                + f" calls/s ours/official (load {os.getloadavg()[0]:.2f})"
            )
        return MajorRun(
            major=major,
            airflow_version=airflow.version,
            packages={s.name: s.package for s in subjects},
            measured=measured,
            skipped=skipped,
            first_calls=first_calls,
            seconds=time.monotonic() - began,
        )
    finally:
        for subject in subjects:
            subject.close()
        airflow.stop()


# -- reporting ----------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def errors_text(m: Measured) -> str:
    parts = []
    for subject in (OURS, OFFICIAL):
        count, first = m.errors(subject)
        if count:
            parts.append(f"{subject}: {count} ({first[:80]})")
    return "; ".join(parts) or "0"


HEADERS = [
    "Airflow",
    "operation",
    "threads",
    "calls per round",
    "ours calls/s",
    "official calls/s",
    "ours/official",
    "range over rounds",
    "client CPU µs/call (ours / official)",
    "errors",
]


def runs_table(runs: Sequence[MajorRun]) -> str:
    rows: list[list[str]] = []
    for run in runs:
        for m in run.measured:
            ratios = m.ratios()
            rows.append(
                [
                    run.airflow_version,
                    OP_LABELS[m.cell.what],
                    str(m.cell.threads),
                    str(m.calls),
                    fmt_rate(m.per_second(OURS)),
                    fmt_rate(m.per_second(OFFICIAL)),
                    f"**{fmt_ratio(statistics.median(ratios))}**" if ratios else "-",
                    f"{fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))}" if ratios else "-",
                    f"{m.cpu_us_per_call(OURS):,.0f} / {m.cpu_us_per_call(OFFICIAL):,.0f}",
                    errors_text(m),
                ]
            )
        for cell, _ in run.skipped:
            cells = [run.airflow_version, OP_LABELS[cell.what], str(cell.threads), "-"]
            rows.append([*cells, "not measured", "not measured", "-", "-", "-", "-"])
    return markdown_table(HEADERS, rows, numeric=range(2, len(HEADERS)))


def first_call_table(runs: Sequence[MajorRun]) -> str:
    lines = [
        "| Airflow | client | import, fresh interpreter | first call, median (min–max) ms |",
        "| --- | --- | ---: | ---: |",
    ]
    for run in runs:
        for fc in run.first_calls:
            ms = sorted(s * 1000 for s in fc.first_call_seconds)
            lines.append(
                f"| {run.airflow_version} | {fc.subject}: {fc.package} | "
                f"{fc.import_seconds * 1000:,.0f} ms | "
                f"{statistics.median(ms):,.1f} ({ms[0]:,.1f}–{ms[-1]:,.1f}) |"
            )
    return "\n".join(lines)


def skip_notes(runs: Sequence[MajorRun]) -> list[str]:
    return [
        f"- Airflow {run.airflow_version}, {OP_LABELS[cell.what]} from {cell.threads} threads: "
        f"{why}."
        for run in runs
        for cell, why in run.skipped
    ]


def machine_info(majors: Sequence[int]) -> list[str]:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    officials = []
    if 3 in majors:
        officials.append(
            f"apache-airflow-client {version('apache-airflow-client')} on pydantic "
            f"{version('pydantic')} (this venv)"
        )
    if 2 in majors:
        officials.append(f"apache-airflow-client {OFFICIAL_V2_VERSION} (a venv of its own)")
    return [
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"load average at the start {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); ours on "
        f"requests {version('requests')}; " + "; ".join(officials) + "; all on urllib3 "
        f"{version('urllib3')}",
    ]


def write_markdown(
    runs: Sequence[MajorRun],
    info: Sequence[str],
    *,
    started: datetime,
    seconds: float,
    rounds: int,
    threads: int,
) -> str:
    airflow_lines = [
        f"- Airflow {run.airflow_version}: the test harness's server ("
        + (
            "api-server, 1 worker, SQLite, `[database] sql_alchemy_max_overflow = 64` as in "
            "`bench.ack_latency`"
            if run.major == 3
            else "webserver, 1 gunicorn sync worker, SQLite, basic auth"
        )
        + f"), no scheduler; ours against {run.packages[OFFICIAL]}; this part took "
        f"{run.seconds / 60:.1f} min."
        for run in runs
    ]
    return "\n".join(
        [
            "# Our Airflow client and the official apache-airflow-client",
            "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m "
            f"bench.client_vs_official` (the whole run took {seconds / 60:.1f} min).",
            "",
            *info,
            *airflow_lines,
            "- Everything on this one machine: Airflow and both clients compete for the same "
            "cores.",
            f"- Load average (1 min) at the end: {os.getloadavg()[0]:.2f}; other work on the "
            "machine during the run would show in it.",
            "",
            "## Calls per second",
            "",
            runs_table(runs),
            "",
            f"- Each cell was measured {rounds} times; each time, both clients made the same "
            "calls back to back (the order swapped every round) against the same server. "
            "*calls/s* is the median over rounds; *ours/official* the median of the per-round "
            "ratios (above 1: ours is faster), *range* their lowest and highest.",
            f"- *threads 1*: N calls one after the other. *threads {threads}*: the same N calls "
            f"from {threads} threads sharing one client (each thread takes the next call when "
            "it is free); calls/s is N over the wall time from the first start to the last "
            "answer. Ours is one `AirflowClient` as the bot builds it (`bot.airflow.clients.client_for`: "
            "a pooled `requests.Session`, at most 16 calls in flight); the official client is "
            "one `ApiClient` shared by the threads (its urllib3 pool holds 5 connections per "
            "core, 10 here).",
            "- *list*: `GET /dags?limit=20&offset=0&order_by=dag_id`, a full page of 20 (8 test "
            f"DAGs and {FILLER_DAGS} filler DAGs); *get one DAG*: `GET /dags/{GET_DAG_ID}`; "
            f"*trigger*: `POST /dags/{TRIGGER_DAG_ID}/dagRuns` with a unique run id and logical "
            "date and `conf` `{}`, the DAG paused and no scheduler running, so every run is "
            "created and queued and none executes. Every call's answer is parsed into the "
            "client's own types (ours: frozen dataclasses; official 3.x: pydantic models; "
            "official 2.x: OpenAPI-generated models with type checks).",
            *skip_notes(runs),
            "- *client CPU µs/call*: the client process's CPU time (all its threads) over the "
            "calls, per call: what the client itself costs per call, less sensitive to the "
            "machine's noise than calls/s. For ours and official 3.x that process is this "
            "benchmark's (idle but for the client being measured); for official 2.x, its "
            "worker process.",
            "",
            "## First call",
            "",
            first_call_table(runs),
            "",
            "- *import*: importing the client in a fresh interpreter (median of "
            f"{IMPORT_SAMPLES}); a process pays it once. *first call*: building a fresh client "
            f"up to its first page of DAGs ({FIRST_CALL_SAMPLES} samples, interleaved, modules "
            "already imported): new connections, and for ours the API version detection "
            "(`GET /api/v2/version`, and `/api/v1/version` on Airflow 2) and on Airflow 3 the "
            "`POST /auth/token` JWT; for the official 3.x client the same JWT, fetched with "
            "`requests` as its README shows (it has no login of its own, and does not renew "
            "the token when it expires); for the official 2.x client nothing (basic auth).",
            "",
            "![calls per second, ours and official](client_vs_official.png)",
            "",
        ]
    )


def write_chart(runs: Sequence[MajorRun], path: Path) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(
        1, len(runs), figsize=(6.4 * len(runs), 4.8), squeeze=False, sharey=False
    )
    width = 0.38
    for ax, run in zip(axes[0], runs, strict=True):
        labels = [f"{OP_LABELS[m.cell.what]}\n{m.cell.threads} thr." for m in run.measured]
        tops = []
        for offset, subject, colour in (
            (-width / 2, OURS, "#2a7ab9"),
            (width / 2, OFFICIAL, "#d9822b"),
        ):
            values = [m.per_second(subject) for m in run.measured]
            tops.append(values)
            xs = [i + offset for i in range(len(values))]
            label = "ours" if subject == OURS else run.packages[OFFICIAL]
            bars = ax.bar(xs, values, width, label=label, color=colour)
            ax.bar_label(bars, labels=[fmt_rate(v) for v in values], fontsize=7)
        for i, m in enumerate(run.measured):
            ratios = m.ratios()
            if ratios:
                ax.text(
                    i,
                    max(tops[0][i], tops[1][i]) * 1.08,
                    fmt_ratio(statistics.median(ratios)),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    fontweight="bold",
                )
        ax.set_ylim(0, max(max(t) for t in tops) * 1.25)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylabel("calls per second (median of rounds)")
        ax.set_title(f"Airflow {run.airflow_version}: ours vs official (ratio ours/official)")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the run ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.client_vs_official",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--majors",
        type=lambda v: [int(p) for p in v.split(",") if p.strip()],
        default=list(DEFAULT_MAJORS),
        help="Airflow major versions, in order (default 3,2)",
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    for what in OPS:
        parser.add_argument(f"--{what}-calls", type=int, default=DEFAULT_CALLS[what])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--airflow2-share",
        type=float,
        default=DEFAULT_AIRFLOW2_SHARE,
        help="share of the calls made on Airflow 2 (default %(default)s: it answers ~8 a second)",
    )
    args = parser.parse_args(argv)
    if set(args.majors) - {2, 3}:
        parser.error("--majors: 2 and/or 3")
    calls = {what: getattr(args, f"{what}_calls") for what in OPS}
    calls_by_major = {
        3: calls,
        2: {what: max(1, round(n * args.airflow2_share)) for what, n in calls.items()},
    }

    started_at = datetime.now(UTC)
    began = time.monotonic()
    info = machine_info(args.majors)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-client-"))
    runs: list[MajorRun] = []
    seq = [0]
    failed = True
    try:
        for major in args.majors:
            runs.append(
                run_major(
                    major,
                    run_dir=run_dir,
                    rounds=args.rounds,
                    threads=args.threads,
                    calls=calls_by_major[major],
                    seq=seq,
                )
            )
        failed = False
    finally:
        if failed:
            log(f"failed; Airflow's and the worker's logs are kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)

    text = write_markdown(
        runs,
        info,
        started=started_at,
        seconds=time.monotonic() - began,
        rounds=args.rounds,
        threads=args.threads,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "client_vs_official.md").write_text(text)
    write_chart(runs, args.out / "client_vs_official.png")
    print(text)
    log(f"wrote {args.out / 'client_vs_official.md'} and {args.out / 'client_vs_official.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
