"""Resident memory of one ``web`` process, idle and under load: our bot against a default Bolt app.

    .venv/bin/python -m bench.memory [--burst 500] [--delays 5,0.1] [--settle 30] [--subjects ...]

The same setup as ``bench.ack_latency`` (a real Airflow 3 behind a ``DelayProxy``, the Slack
stand-in, both subjects served by the Procfile's gunicorn settings), with ``WEB_CONCURRENCY=1``
so that "one web process" is gunicorn's one worker. For each subject, started afresh, it reads
``VmRSS``, ``VmHWM`` (the kernel's peak RSS) and ``Threads`` from ``/proc/<pid>/status`` of
gunicorn's master and of its worker (the master's child) every 100 ms, and at each phase also
``/proc/<pid>/smaps_rollup`` (PSS: shared pages divided among the processes sharing them; USS:
pages only this process holds). The phases:

1. just started, idle;
2. warmed up: one command answered (imports done, JWT fetched, connections open);
3. for each Airflow delay of ``--delays``: a burst of ``--burst`` ``/airflow list`` commands
   sent at once (as ``bench.ack_latency`` sends them), a reading once every command is acked
   (the most work accepted and not yet answered), the peak over the 100 ms samples until every
   answer reached the stand-in, a reading then, and one after ``--settle`` idle seconds.

The first burst (Airflow answering in 5 s) is the load: our bot keeps at most 16 Airflow calls
in flight per deployment, so most of the burst waits in its queue for minutes. The second
(0.1 s) serves as many commands again, quickly, to see whether idle memory grows with the
commands served.

Writes ``bench/results/memory.md`` (also printed) and ``bench/results/memory.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.ack_subjects import (
    SUBJECT_LABELS,
    SUBJECTS,
    Subject,
    make_subject,
    parse_list,
    start_bench_airflow,
    subject_list,
    widen_backlog,
)
from bench.ack_traffic import answered_ok, fire, match_answers, new_commands, warm_up
from bench.report import host_info, log, markdown_table, pyplot
from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.bot_process import ROOT
from testkit.delay_proxy import DelayProxy

DEFAULT_BURST = 500
DEFAULT_DELAYS = (5.0, 0.1)
DEFAULT_SETTLE = 30.0
DEFAULT_ANSWER_TIMEOUT = 900.0
"""Long enough for the Bolt default to answer 500 commands at 5 s each on its 5 threads."""
SAMPLE_INTERVAL = 0.1
IDLE_AFTER_START = 3.0
"""Seconds left idle after the subject answers its health check, before the first reading."""
QUIET_AFTER_ANSWERS = 2.0
"""The last answer is not the last work: our bot then updates the parent message."""
GOAL_MIB = 150.0
KIB_PER_MIB = 1024


def mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / KIB_PER_MIB:,.1f}"


# -- reading /proc ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcMemory:
    """One process's memory at one moment, in KiB as /proc gives it."""

    pid: int
    rss: int
    hwm: int
    threads: int
    pss: int | None = None
    uss: int | None = None


def _status_fields(pid: int) -> dict[str, str] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None  # exited between finding it and reading it
    return {
        name: value.strip()
        for name, _, value in (line.partition(":") for line in text.splitlines())
    }


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def read_memory(pid: int, *, rollup: bool = False) -> ProcMemory | None:
    """``VmRSS``, ``VmHWM`` and ``Threads``; with ``rollup``, PSS and USS from smaps_rollup.

    smaps_rollup walks the process's page tables under its memory-map lock, so it is read only
    at the phases, not at every 100 ms sample.
    """
    status = _status_fields(pid)
    if status is None or "VmRSS" not in status:
        return None  # gone, or a zombie (no address space left)
    pss = uss = None
    if rollup:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            text = ""  # kernels before 4.14 lack it: PSS and USS stay unknown
        values = {
            name: _kib(value)
            for name, _, value in (line.partition(":") for line in text.splitlines()[1:])
        }
        if "Pss" in values:
            pss = values["Pss"]
            uss = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return ProcMemory(
        pid=pid,
        rss=_kib(status.get("VmRSS")),
        hwm=_kib(status.get("VmHWM")),
        threads=int(status.get("Threads", "0")),
        pss=pss,
        uss=uss,
    )


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the kernel's per-task children files are optional)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (in brackets) may hold spaces: the fields after it are positional.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def gunicorn_master(root: int) -> int:
    """The gunicorn master at or under ``root``.

    The Procfile line runs under ``sh -c``, which may or may not exec gunicorn in its place; the
    shell's own command line names gunicorn too, so the program itself is matched: gunicorn's
    script, run as ``python .../gunicorn`` or directly.
    """
    queue = [root]
    while queue:
        pid = queue.pop(0)
        if any(Path(arg).name == "gunicorn" for arg in _argv(pid)[:2]):
            return pid
        queue.extend(children(pid))
    raise RuntimeError(f"no gunicorn process under pid {root}")


# -- sampling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    """Seconds since the subject was started."""
    master: ProcMemory | None
    workers: tuple[ProcMemory, ...]

    @property
    def worker(self) -> ProcMemory | None:
        """The largest worker: with one worker per subject, simply the worker."""
        return max(self.workers, key=lambda w: w.rss, default=None)

    @property
    def total_rss(self) -> int:
        return sum(p.rss for p in (self.master, *self.workers) if p is not None)


def read_sample(master: int, at: float, *, rollup: bool = False) -> Sample:
    workers = (read_memory(pid, rollup=rollup) for pid in children(master))
    return Sample(
        at=at,
        master=read_memory(master, rollup=rollup),
        workers=tuple(w for w in workers if w is not None),
    )


class Sampler:
    """Reads the master's and the workers' status every ``interval`` seconds, on a thread."""

    def __init__(self, master: int, started: float, interval: float = SAMPLE_INTERVAL) -> None:
        self.master = master
        self.started = started
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self.started

    def _run(self) -> None:
        # A fixed cadence, not sleep(interval) after each read: a slow read (a loaded machine)
        # must not stretch the timeline.
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.samples.append(read_sample(self.master, self.now()))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in list(self.samples) if start <= s.at <= end]

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- one subject, through the phases ------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A phase's reading: every process, PSS and USS included."""

    phase: str
    sample: Sample
    unanswered: int = 0


@dataclass
class Burst:
    delay: float
    sent: int
    began: float
    acked_at: float | None = None
    acked: int = 0
    answered_at: float | None = None
    answered: int = 0
    peak: Sample | None = None
    """The sample with the largest worker RSS between the burst's start and its last answer."""


@dataclass
class SubjectRun:
    subject: str
    master_pid: int = 0
    readings: list[Reading] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since start, commands sent and not yet answered), for the chart."""
    events: list[tuple[float, str]] = field(default_factory=list)
    worker_pids: set[int] = field(default_factory=set)
    seconds: float = 0.0

    def reading(self, phase: str) -> Reading | None:
        return next((r for r in self.readings if r.phase == phase), None)


def phase_names(burst_index: int) -> tuple[str, str, str]:
    n = burst_index + 1
    return f"burst {n}: all acked", f"burst {n}: all answered", f"burst {n}: idle after"


def run_burst(
    subject: Subject,
    run: SubjectRun,
    sampler: Sampler,
    *,
    index: int,
    size: int,
    delay: float,
    slack: SlackStandin,
    proxy: DelayProxy,
    answer_timeout: float,
    settle: float,
) -> None:
    acked_phase, answered_phase, idle_phase = phase_names(index)

    def take(phase: str, unanswered: int = 0) -> None:
        sample = read_sample(run.master_pid, sampler.now(), rollup=True)
        run.readings.append(Reading(phase, sample, unanswered))
        run.events.append((sample.at, phase))

    # Calls of the warm-up or of an earlier burst would only slow the matching down.
    slack.reset()
    proxy.delay = delay
    commands = new_commands(slack, size, f"B{index}")
    burst = Burst(delay=delay, sent=size, began=sampler.now())
    run.bursts.append(burst)
    run.events.append((burst.began, f"burst {index + 1}: {size} sent, Airflow {delay:g} s"))
    # fire() returns once every ack is back, which for the Bolt default takes minutes: it runs
    # on its own thread while this one follows the answers and takes the readings.
    sender = threading.Thread(
        target=fire, args=(subject.url, commands), kwargs={"timeout": answer_timeout}, daemon=True
    )
    sender.start()
    deadline = time.monotonic() + answer_timeout

    def unanswered() -> int:
        match_answers(slack.calls, commands)
        return sum(1 for c in commands if c.answer is None)

    while True:
        waiting = unanswered()
        run.backlog.append((sampler.now(), waiting))
        if burst.acked_at is None and not sender.is_alive():
            # Every command accepted: the most work in the process that is not yet done.
            burst.acked_at = sampler.now()
            burst.acked = sum(1 for c in commands if c.status == 200)
            take(acked_phase, waiting)
        if (waiting == 0 and burst.acked_at is not None) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    burst.answered = sum(1 for c in commands if answered_ok(c))
    last = max((c.answer.at for c in commands if c.answer), default=None)
    burst.answered_at = None if last is None else last - sampler.started
    time.sleep(QUIET_AFTER_ANSWERS)
    take(answered_phase, unanswered())
    burst.peak = max(
        sampler.between(burst.began, sampler.now()),
        key=lambda s: s.worker.rss if s.worker else 0,
        default=None,
    )
    proxy.delay = 0.0
    time.sleep(settle)
    take(idle_phase, unanswered())
    sender.join(timeout=1)


def measure_subject(
    name: str,
    *,
    workdir: Path,
    slack: SlackStandin,
    proxy: DelayProxy,
    burst: int,
    delays: Sequence[float],
    settle: float,
    answer_timeout: float,
    web_concurrency: int,
) -> SubjectRun:
    subject = make_subject(
        name, workdir=workdir, airflow_url=proxy.url, slack_api_url=slack.api_url
    )
    subject.env["WEB_CONCURRENCY"] = str(web_concurrency)
    run = SubjectRun(name)
    started = time.monotonic()
    proxy.delay = 0.0
    subject.start(ready_timeout=60)
    try:
        assert subject.pid is not None
        run.master_pid = gunicorn_master(subject.pid)
        with Sampler(run.master_pid, started) as sampler:

            def take(phase: str) -> None:
                sample = read_sample(run.master_pid, sampler.now(), rollup=True)
                run.readings.append(Reading(phase, sample))
                run.events.append((sample.at, phase))

            time.sleep(IDLE_AFTER_START)
            take("started, idle")
            warm_up(subject, slack)
            time.sleep(QUIET_AFTER_ANSWERS)
            take("warmed up")
            for index, delay in enumerate(delays):
                log(f"{name}: burst {index + 1}: {burst} at once, Airflow delay {delay:g} s")
                run_burst(
                    subject,
                    run,
                    sampler,
                    index=index,
                    size=burst,
                    delay=delay,
                    slack=slack,
                    proxy=proxy,
                    answer_timeout=answer_timeout,
                    settle=settle,
                )
                b = run.bursts[-1]
                log(
                    f"  answered {b.answered}/{b.sent}; worker peak "
                    f"{mib(b.peak.worker.rss if b.peak and b.peak.worker else None)} MiB "
                    f"(load {os.getloadavg()[0]:.2f})"
                )
        run.samples = sampler.samples
        run.worker_pids = {w.pid for s in run.samples for w in s.workers}
    finally:
        subject.kill()
        proxy.delay = 0.0
    run.seconds = time.monotonic() - started
    return run


# -- reporting ----------------------------------------------------------------------------------


def dyno_total(sample: Sample) -> int | None:
    """What the Procfile's ``web`` dyno holds, every page once: the master's resident pages
    plus each worker's private ones (USS).

    A worker's shared pages are the master's, inherited at the fork. Summing PSS instead would
    under-count here: this benchmark's own process maps the same Python and libraries, and PSS
    hands it a share of those pages, which on a dyno the bot's processes hold alone.
    """
    if sample.master is None or any(w.uss is None for w in sample.workers):
        return None
    return sample.master.rss + sum(w.uss or 0 for w in sample.workers)


def peak_worker_rss(run: SubjectRun) -> int | None:
    peaks = [b.peak.worker.rss for b in run.bursts if b.peak and b.peak.worker]
    return max(peaks, default=None)


def peak_worker_hwm(run: SubjectRun) -> int | None:
    hwms = [w.hwm for s in run.samples for w in s.workers]
    return max(hwms, default=None)


def worker_rss_at(run: SubjectRun, phase: str) -> int | None:
    reading = run.reading(phase)
    worker = reading.sample.worker if reading else None
    return worker.rss if worker else None


SUMMARY_HEADERS = [
    "subject",
    "started, idle",
    "warmed up",
    "all acked (max backlog)",
    "peak under load (VmHWM)",
    "idle after",
    "idle after 2nd burst",
    "master",
    "dyno total, largest reading",
]


def summary_row(run: SubjectRun) -> list[str]:
    acked, _, idle = phase_names(0)
    last_idle = phase_names(len(run.bursts) - 1)[2] if len(run.bursts) > 1 else None
    masters = [s.master.rss for s in run.samples if s.master]
    dyno = [d for r in run.readings if (d := dyno_total(r.sample)) is not None]
    return [
        SUBJECT_LABELS[run.subject],
        mib(worker_rss_at(run, "started, idle")),
        mib(worker_rss_at(run, "warmed up")),
        mib(worker_rss_at(run, acked)),
        f"{mib(peak_worker_rss(run))} ({mib(peak_worker_hwm(run))})",
        mib(worker_rss_at(run, idle)),
        mib(worker_rss_at(run, last_idle)) if last_idle else "-",
        mib(max(masters, default=None)),
        mib(max(dyno, default=None)),
    ]


DETAIL_HEADERS = [
    "subject",
    "phase",
    "at s",
    "worker RSS",
    "worker VmHWM",
    "worker PSS",
    "worker USS",
    "worker threads",
    "master RSS",
    "master PSS",
    "dyno total",
    "unanswered",
]


def detail_rows(run: SubjectRun) -> list[list[str]]:
    label = SUBJECT_LABELS[run.subject]
    rows = []
    for reading in run.readings:
        s = reading.sample
        w = s.worker
        rows.append(
            [
                label,
                reading.phase,
                f"{s.at:.0f}",
                mib(w.rss if w else None),
                mib(w.hwm if w else None),
                mib(w.pss if w else None),
                mib(w.uss if w else None),
                str(w.threads) if w else "-",
                mib(s.master.rss if s.master else None),
                mib(s.master.pss if s.master else None),
                mib(dyno_total(s)),
                str(reading.unanswered),
            ]
        )
        # A burst's sampled peak spans its start to its last answer: listed after that reading.
        for i, burst in enumerate(run.bursts):
            if reading.phase == phase_names(i)[1] and burst.peak and burst.peak.worker:
                p = burst.peak
                assert p.worker is not None
                rows.append(
                    [
                        label,
                        f"burst {i + 1}: peak of the 100 ms samples",
                        f"{p.at:.0f}",
                        mib(p.worker.rss),
                        mib(p.worker.hwm),
                        "-",
                        "-",
                        str(p.worker.threads),
                        mib(p.master.rss if p.master else None),
                        "-",
                        "-",
                        "",
                    ]
                )
    return rows


def goal_line(runs: Sequence[SubjectRun]) -> str:
    parts = []
    for run in runs:
        peak = peak_worker_hwm(run)
        if peak is None:
            continue
        verdict = "under" if peak / KIB_PER_MIB < GOAL_MIB else "over"
        parts.append(f"{SUBJECT_LABELS[run.subject]} {mib(peak)} MiB ({verdict})")
    return (
        f"**Goal: under {GOAL_MIB:.0f} MiB resident per process. Peak worker RSS (VmHWM) over "
        f"the whole run: {'; '.join(parts)}.**"
    )


def more_workers_notes(runs: Sequence[SubjectRun], workers: int = 4) -> list[str]:
    """A dyno with WEB_CONCURRENCY=4 (the default is 2): estimated, not run."""
    notes = []
    for run in runs:
        masters = [r.sample.master.rss for r in run.readings if r.sample.master]
        private = [w.uss for r in run.readings for w in r.sample.workers if w.uss is not None]
        if masters and private:
            estimate = max(masters) + workers * max(private)
            notes.append(
                f"- {SUBJECT_LABELS[run.subject]} with {workers} workers (`WEB_CONCURRENCY="
                f"{workers}`), estimated as the largest master RSS + {workers} x the largest "
                f"worker USS read: {mib(estimate)} MiB."
            )
    return notes


def burst_notes(runs: Sequence[SubjectRun]) -> list[str]:
    notes = []
    for run in runs:
        for i, b in enumerate(run.bursts):
            acked = (
                f"all acked {b.acked_at - b.began:.0f} s after the burst's start"
                if b.acked_at is not None
                else "not all acked"
            )
            answered = (
                f"the last answer {b.answered_at - b.began:.0f} s after it"
                if b.answered_at is not None
                else "no answer"
            )
            notes.append(
                f"- {SUBJECT_LABELS[run.subject]}, burst {i + 1} ({b.sent} at once, Airflow "
                f"{b.delay:g} s): {b.acked}/{b.sent} acks were a 200, {acked}; "
                f"{b.answered}/{b.sent} answered, {answered}."
            )
        if len(run.worker_pids) > 1:
            notes.append(
                f"- {SUBJECT_LABELS[run.subject]}: gunicorn ran {len(run.worker_pids)} different "
                "worker processes during the run (a worker was replaced); each is sampled."
            )
    return notes


def machine_info(airflow: AirflowServer, web_concurrency: int) -> list[str]:
    rollup = Path("/proc/self/smaps_rollup").exists()
    return [
        *host_info(),
        f"- Airflow {airflow.version} api-server (1 worker, SQLite), the test harness's, with "
        "`bench.ack_latency`'s `[database] sql_alchemy_max_overflow = 64` (its default pool "
        "freezes under a few dozen concurrent calls); it, the Slack stand-in, the delay proxy "
        "and the client sending the commands run on the same machine, outside the measured "
        "processes.",
        f"- Both subjects under `bot/serve/gunicorn_conf.py` with `WEB_CONCURRENCY={web_concurrency}` "
        "(gthread, 8 request threads, `preload_app`), our bot with its defaults otherwise "
        "(`WORKER_THREADS` 32, `MAX_PENDING` 1000, `max_in_flight` 16), its store a SQLite file."
        + ("" if rollup else " This kernel has no smaps_rollup: PSS and USS are not measured."),
    ]


def write_markdown(
    runs: Sequence[SubjectRun],
    info: Sequence[str],
    started: datetime,
    seconds: float,
    *,
    burst: int,
    delays: Sequence[float],
    settle: float,
) -> str:
    summary = [summary_row(run) for run in runs]
    details = [row for run in runs for row in detail_rows(run)]
    delay_text = " then ".join(f"{d:g} s" for d in delays)
    return "\n".join(
        [
            "# Resident memory of one `web` process: our bot and a default Bolt app",
            "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench.memory` "
            f"(the whole run took {seconds / 60:.1f} min).",
            "",
            *info,
            f"- Load average (1 min) at the end: {os.getloadavg()[0]:.2f}; other work on the "
            "machine during the run would show in it.",
            "",
            f"Worker (the one `web` process serving requests) RSS in MiB, bursts of {burst} "
            f"`/airflow list` at once with Airflow answering in {delay_text}:",
            "",
            markdown_table(SUMMARY_HEADERS, summary, numeric=range(1, len(SUMMARY_HEADERS))),
            "",
            goal_line(runs),
            "",
            "Every reading (MiB; *at s*: seconds since the subject was started; *unanswered*: "
            "commands of the burst whose answer had not reached the Slack stand-in):",
            "",
            markdown_table(DETAIL_HEADERS, details, numeric=range(2, len(DETAIL_HEADERS))),
            "",
            "- *RSS* (`VmRSS`) counts every resident page the process maps, shared or not; "
            "*VmHWM* is the kernel's record of the largest RSS since the process began, so it "
            "catches peaks between samples. *PSS* splits each shared page among the processes "
            "sharing it; *USS* counts only the pages no other process holds (private clean + "
            "private dirty in `/proc/<pid>/smaps_rollup`): what the worker costs on top of the "
            "master. MiB: 1,048,576 bytes, as `/proc` and `ps` count.",
            "- gunicorn's master imports the app before forking (`preload_app`), so the worker "
            "starts sharing the master's pages: its RSS counts them. The Procfile's `web` dyno "
            "holds the master and `WEB_CONCURRENCY` workers (2 by default); *dyno total* counts each of their pages once: the master's RSS plus each "
            "worker's USS (the sum of their RSS would count the shared pages twice; the sum of "
            "their PSS would give a share of the Python and library pages to this benchmark's "
            "own process, which maps the same files).",
            *more_workers_notes(runs),
            f"- Readings: {IDLE_AFTER_START:.0f} s after the subject first answered HTTP "
            f"(*started, idle*); {QUIET_AFTER_ANSWERS:.0f} s after the warm-up command's answer "
            "(*warmed up*: imports done, Airflow JWT fetched, connections open); when every "
            "command of a burst had been acked (*all acked*: all accepted, most still "
            f"unanswered, the largest backlog); {QUIET_AFTER_ANSWERS:.0f} s after the last "
            f"answer (*all answered*); {settle:.0f} s later with nothing to do (*idle after*). "
            f"Between readings, `/proc/<pid>/status` is sampled every "
            f"{SAMPLE_INTERVAL * 1000:.0f} ms; *peak of the 100 ms samples* is the sample with "
            "the largest worker RSS from the burst's start to its last answer.",
            "- The commands are sent as by `bench.ack_latency` (each from its own thread over "
            "its own connection, signed like Slack's, its own channel and `response_url`); "
            "Airflow's delay comes from the proxy in front of it. Our bot's `list` is two "
            "Airflow calls (the page, the DAGs' last runs) and it keeps at most 16 in flight "
            "per deployment, so at 5 s a burst of 500 takes it about 5 minutes to answer, the "
            "rest waiting in its queue; the Bolt default makes one call per command on its "
            "5 listener threads, its backlog waiting in gunicorn's and Bolt's queues.",
            *burst_notes(runs),
            "",
            "![RSS over time through the phases](memory.png)",
            "",
        ]
    )


def write_chart(runs: Sequence[SubjectRun], path: Path) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(
        len(runs), 1, figsize=(10, 3.6 * len(runs)), sharex=True, sharey=True, squeeze=False
    )
    for ax, run in zip(axes[:, 0], runs, strict=True):
        at = [s.at for s in run.samples]
        worker = [s.worker.rss / KIB_PER_MIB if s.worker else math.nan for s in run.samples]
        master = [s.master.rss / KIB_PER_MIB if s.master else math.nan for s in run.samples]
        ax.plot(at, worker, color="#2a7ab9", linewidth=1.2, label="worker RSS")
        ax.plot(at, master, color="#7f8c8d", linewidth=1, linestyle="--", label="master RSS")
        pss = [
            (r.sample.at, r.sample.worker.pss / KIB_PER_MIB)
            for r in run.readings
            if r.sample.worker and r.sample.worker.pss is not None
        ]
        if pss:
            ax.plot(*zip(*pss, strict=True), "o", color="#2a7ab9", markersize=4, mfc="white")
            ax.plot([], [], "o", color="#2a7ab9", mfc="white", label="worker PSS (readings)")
        ax.axhline(GOAL_MIB, color="#c0392b", linestyle=":", linewidth=1)
        ax.text(0, GOAL_MIB, f" goal {GOAL_MIB:.0f} MiB", color="#c0392b", va="bottom", fontsize=7)
        for t, label in run.events:
            if label.startswith("burst") and "sent" in label:
                ax.axvline(t, color="#d9822b", linewidth=0.8)
                ax.text(t, 5, " " + label, rotation=90, va="bottom", fontsize=6, color="#d9822b")
        if run.backlog:
            ax.fill_between([], [], color="#bdc3c7", alpha=0.35, label="commands unanswered")
            backlog = ax.twinx()
            backlog.fill_between(
                [t for t, _ in run.backlog],
                [n for _, n in run.backlog],
                step="post",
                color="#bdc3c7",
                alpha=0.35,
                linewidth=0,
            )
            backlog.set_ylim(bottom=0)
            backlog.set_ylabel("commands unanswered", fontsize=7, color="#7f8c8d")
            backlog.tick_params(labelsize=7, colors="#7f8c8d")
            ax.set_zorder(backlog.get_zorder() + 1)
            ax.patch.set_visible(False)
        ax.set_title(SUBJECT_LABELS[run.subject], fontsize=9, loc="left")
        ax.set_ylabel("MiB")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds since the subject was started")
    fig.suptitle("Resident memory of one web process (WEB_CONCURRENCY=1), idle and under bursts")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the run ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST, help="commands per burst")
    parser.add_argument(
        "--delays",
        type=parse_list(float),
        default=list(DEFAULT_DELAYS),
        help="Airflow's delay for each burst, in order (default 5,0.1: two bursts)",
    )
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE, help="idle s after each")
    parser.add_argument("--answer-timeout", type=float, default=DEFAULT_ANSWER_TIMEOUT)
    parser.add_argument("--web-concurrency", type=int, default=1)
    parser.add_argument("--subjects", type=subject_list, default=list(SUBJECTS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        parser.error("this benchmark reads /proc/<pid>/status: it runs on Linux only")

    started_at = datetime.now(UTC)
    began = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    runs: list[SubjectRun] = []
    log("starting Airflow 3 (testkit.airflow_harness)")
    airflow = start_bench_airflow(3, run_dir / "airflow")
    failed = True
    try:
        info = machine_info(airflow, args.web_concurrency)
        with SlackStandin() as slack, DelayProxy(airflow.url, delay=0.0) as proxy:
            widen_backlog(slack._server)
            widen_backlog(proxy._server)
            for subject in args.subjects:
                workdir = run_dir / subject
                workdir.mkdir()
                log(f"{subject}: started with WEB_CONCURRENCY={args.web_concurrency}")
                run = measure_subject(
                    subject,
                    workdir=workdir,
                    slack=slack,
                    proxy=proxy,
                    burst=args.burst,
                    delays=args.delays,
                    settle=args.settle,
                    answer_timeout=args.answer_timeout,
                    web_concurrency=args.web_concurrency,
                )
                runs.append(run)
                log("  " + " | ".join(summary_row(run)) + f" ({run.seconds:.0f} s)")
        failed = False
    finally:
        airflow.stop()
        if failed:
            log(f"failed; the subjects' and Airflow's logs are kept in {run_dir}")

    text = write_markdown(
        runs,
        info,
        started_at,
        time.monotonic() - began,
        burst=args.burst,
        delays=args.delays,
        settle=args.settle,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.md").write_text(text)
    write_chart(runs, args.out / "memory.png")
    print(text)
    log(f"wrote {args.out / 'memory.md'} and {args.out / 'memory.png'}")
    with contextlib.suppress(OSError):
        shutil.rmtree(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
