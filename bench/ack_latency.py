"""Slash-command ack latency over HTTP: our bot against a Bolt app in its default configuration.

    .venv/bin/python -m bench.ack_latency [--bursts 1,50,500] [--delays 0.1,5] [--subjects ...]

Sets up, all on 127.0.0.1: a real Airflow 3 (``tests.support.airflow_harness``), the Slack stand-in
(``tests.support.slack_standin``) and a ``DelayProxy`` in front of Airflow whose delay is set per
scenario. Then, for every Airflow delay x burst size x subject, it starts the subject afresh,
warms it up with one command (proxy delay 0: JWT fetched, connections open), and sends a burst
of ``/airflow list`` commands at once, each a correctly signed request like Slack's from its own
thread and connection, with its own channel and ``response_url``, all from a child process (the
users' side: Slack's stand-in and the proxy keep this one). It measures each request's
time to the HTTP response (the ack Slack waits 3 s for), then waits, up to the scenario's answer
window counted from the burst's start, for each command's answer to reach the stand-in: a
threaded ``chat.postMessage`` in its channel or a POST to its ``response_url``.

Subjects:

* ``ours``: the bot as the Procfile's ``web`` line runs it (``tests.support.bot_process.BotProcess``),
  with its default settings (``WORKER_THREADS`` 32, ``MAX_PENDING`` 1000).
* ``bolt-default``: ``bench/baseline_bolt_app.py``, a typical Bolt app with Bolt's defaults,
  under the same gunicorn settings (``bot/serve/gunicorn_conf.py``).

Writes ``bench/results/ack_latency.md`` (also printed) and ``bench/results/ack_latency.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socketserver
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.report import log, markdown_table, pyplot
from bot.serve import gunicorn_conf
from tests.support.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from tests.support.airflow_harness import start as start_airflow
from tests.support.bot_process import ROOT, SIGNING_SECRET, BotProcess
from tests.support.conversation import visible_text
from tests.support.delay_proxy import DelayProxy
from tests.support.signing import sign, slash_command_body
from tests.support.slack_standin import Call, SlackStandin

OURS = "ours"
BASELINE = "bolt-default"
SUBJECTS = (OURS, BASELINE)
SUBJECT_LABELS = {OURS: "ours (Procfile web)", BASELINE: "Bolt default"}
DEFAULT_DELAYS = (0.1, 5.0)
DEFAULT_BURSTS = (1, 50, 500)

SLACK_ACK_LIMIT = 3.0
"""Slack shows the user an error when a slash command is not acknowledged within 3 s."""
ANSWER_WINDOW = 60.0
"""How long after a burst's start its answers are waited for."""
LONG_ANSWER_WINDOW = 400.0
"""The window of the bursts of 500 at a 5 s Airflow delay: at 16 Airflow calls in flight (the
default ``max_in_flight``) and two 5 s calls per ``list``, our bot needs about 320 s for all of
them. Both subjects get it."""
PROBES = 20
PROBE_INTERVAL = 0.1
"""After a burst of 50 or more has been acknowledged, while its commands wait for Airflow, one
more command every 100 ms: how fast is a command acknowledged with that many in flight?"""
WARM_UP_TIMEOUT = 60.0
USER = "U0ALICE"
COMMAND_TEXT = "list"
ANSWER_MARKER = "etl_daily"
"""A DAG of tests/support/dags that any answer listing the DAGs names."""
BACKLOG = 1024

AIRFLOW_CFG = """\
[database]
sql_alchemy_max_overflow = 64
"""
"""Room for more than 15 DB connections in Airflow's api-server.

Airflow 3.3's api-server checks for revoked JWTs with a synchronous query on its event loop
(apache/airflow#73422, #66493): once request threads hold all of the default pool's 5 + 10
connections, that query blocks the loop they wait for, and the server freezes. 24 or 32 calls
kept in flight froze it for good here (16 did not); our bot keeps up to ``WORKER_THREADS``, 32
by default. With 5 + 64 the pool outnumbers the threads that can hold a connection (AnyIO's 40
and the event loop), so Airflow's speed is the proxy's delay, as the scenarios intend.
"""

OUR_CONFIG = """
deployments:
  af3:
    url: {url}
    username: {username}
    password: ${{AF_PASSWORD}}
grants:
  - role: operator
    users: [{user}]
"""


# Settings for our bot's process, from BENCH_BOT_ENV="NAME=value,..." (e.g. WEB_CONCURRENCY=2).
_EXTRA_ENV = dict(
    item.split("=", 1) for item in os.environ.get("BENCH_BOT_ENV", "").split(",") if "=" in item
)


def start_bench_airflow(
    major: int, home: Path, *, more_cfg: str = "", **options: Any
) -> AirflowServer:
    """The test harness's Airflow with AIRFLOW_CFG's room in its database pool (and more_cfg)."""
    home.mkdir(parents=True)
    (home / "airflow.cfg").write_text(AIRFLOW_CFG + more_cfg)
    return start_airflow(major, home=home, **options)


# -- the subjects -------------------------------------------------------------------------------


class Subject(BotProcess):
    """A server under test, in its own process group, killed outright once measured."""

    def _healthy(self) -> bool:
        # Any HTTP answer means gunicorn serves: the baseline has no /healthz and answers 404.
        try:
            requests.get(f"{self.url}/healthz", timeout=1)
        except requests.RequestException:
            return False
        return True

    @property
    def pid(self) -> int | None:
        """The process the subject was started as: gunicorn's master, or a shell running it."""
        return None if self._popen is None else self._popen.pid

    def kill(self) -> None:
        # Queued work (hundreds of listeners behind Bolt's 5 threads) would make a graceful stop
        # take gunicorn's whole graceful_timeout; nothing of it is measured any more.
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(10)


def make_subject(name: str, *, workdir: Path, airflow_url: str, slack_api_url: str) -> Subject:
    if name == OURS:
        config = OUR_CONFIG.format(url=airflow_url, username=ADMIN_USER, user=USER)
        return Subject(
            workdir=workdir,
            config=config,
            slack_api_url=slack_api_url,
            env={"AF_PASSWORD": ADMIN_PASSWORD, **_EXTRA_ENV},
        )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return Subject(
        workdir=workdir,
        config="",  # not read by the baseline
        slack_api_url=slack_api_url,
        env={
            "AIRFLOW_URL": airflow_url,
            "AIRFLOW_USERNAME": ADMIN_USER,
            "AIRFLOW_PASSWORD": ADMIN_PASSWORD,
        },
        # --pythonpath: bench/ is not an installed package and the process runs in workdir.
        command=[
            gunicorn, "--config", "python:bot.serve.gunicorn_conf", "--pythonpath", str(ROOT),
            "bench.baseline_bolt_app:application",
        ],
    )  # fmt: skip


# -- sending commands and reading answers -------------------------------------------------------


@dataclass
class Command:
    index: int
    channel: str
    response_url: str
    sent_at: float = 0.0
    status: int | None = None
    """HTTP status of the ack; None when no answer came (connection error or timeout)."""
    ack_seconds: float = math.inf
    ack_body: str = ""
    answer: Call | None = None


def new_commands(slack: SlackStandin, count: int, prefix: str) -> list[Command]:
    return [
        Command(index=i, channel=f"C0{prefix}{i:04d}", response_url=slack.new_response_url())
        for i in range(count)
    ]


def fire(url: str, commands: Sequence[Command], *, timeout: float) -> None:
    """Send every command at once, each from its own thread on its own connection, as Slack does.

    Bodies are built and signed before the start; each thread's clock runs from just before it
    connects to when the response's body is read.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies = [
        slash_command_body(
            text=COMMAND_TEXT, user_id=USER, channel_id=c.channel, response_url=c.response_url
        )
        for c in commands
    ]
    start = threading.Barrier(len(commands) + 1)

    def send(command: Command, body: bytes) -> None:
        headers = sign(SIGNING_SECRET, body)
        start.wait()
        command.sent_at = time.monotonic()
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("POST", "/slack/events", body=body, headers=headers)
            resp = conn.getresponse()
            command.ack_body = resp.read().decode("utf-8", "replace")
            command.status = resp.status
            command.ack_seconds = time.monotonic() - command.sent_at
        except (OSError, http.client.HTTPException) as exc:
            command.ack_body = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    threads = [
        threading.Thread(target=send, args=(c, b), name=f"slash-{c.index}", daemon=True)
        for c, b in zip(commands, bodies, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()


def send_as_users(
    url: str, commands: list[Command], probes: list[Command], *, timeout: float
) -> None:
    """Fire the burst, then the probes, from a child process, filling in their acks.

    The users' side gets a process of its own: Slack's servers (the stand-in) and Airflow (the
    proxy) run in this one, and sharing its interpreter lock with them made the measured acks
    depend on how busy the stand-in was at that moment, not only on the bot.
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        sent, sent_probes = pool.apply(_send, (url, commands, probes, timeout))
    for mine, theirs in zip([*commands, *probes], [*sent, *sent_probes], strict=True):
        mine.sent_at, mine.status = theirs.sent_at, theirs.status
        mine.ack_seconds, mine.ack_body = theirs.ack_seconds, theirs.ack_body


def _send(
    url: str, commands: list[Command], probes: list[Command], timeout: float
) -> tuple[list[Command], list[Command]]:
    fire(url, commands, timeout=timeout)
    if probes:
        probe_while_busy(url, probes, timeout=timeout)
    return commands, probes


def probe_while_busy(url: str, probes: Sequence[Command], *, timeout: float) -> None:
    """Send the probes one every PROBE_INTERVAL, each on its own thread and connection."""
    threads = []
    for probe in probes:
        thread = threading.Thread(
            target=fire, args=(url, [probe]), kwargs={"timeout": timeout}, daemon=True
        )
        thread.start()
        threads.append(thread)
        time.sleep(PROBE_INTERVAL)
    for thread in threads:
        thread.join()


def match_answers(calls: Sequence[Call], commands: Sequence[Command]) -> None:
    """Give each command the first answer it got: a threaded reply in its channel (our bot), or
    a POST to its response_url (the baseline, and our bot where it cannot post)."""
    by_channel = {c.channel: c for c in commands}
    by_url = {c.response_url: c for c in commands}
    for call in calls:
        command: Command | None = None
        if call.method == "chat.postMessage" and "thread_ts" in call.params:
            command = by_channel.get(str(call.params.get("channel")))
        elif call.method == "response_url":
            command = by_url.get(str(call.params.get("_response_url")))
        if command is not None and command.answer is None:
            command.answer = call


def wait_for_answers(slack: SlackStandin, commands: Sequence[Command], deadline: float) -> None:
    while True:
        match_answers(slack.calls, commands)
        if all(c.answer is not None for c in commands) or time.monotonic() >= deadline:
            return
        time.sleep(0.25)


def answered_ok(command: Command) -> bool:
    return command.answer is not None and ANSWER_MARKER in visible_text(command.answer.params)


def warm_up(subject: Subject, slack: SlackStandin) -> None:
    """One command, answered, before the burst: JWT fetched, API version known, pools open."""
    (command,) = new_commands(slack, 1, "WARM")
    fire(subject.url, [command], timeout=WARM_UP_TIMEOUT)
    wait_for_answers(slack, [command], time.monotonic() + WARM_UP_TIMEOUT)
    if command.status != 200 or not answered_ok(command):
        raise RuntimeError(
            f"the warm-up command was not answered (ack {command.status} {command.ack_body!r}, "
            f"answer {command.answer}):\n{subject.logs()}"
        )


# -- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    subject: str
    delay: float
    burst: int

    @property
    def window(self) -> float:
        return LONG_ANSWER_WINDOW if self.burst >= 500 and self.delay >= 5 else ANSWER_WINDOW


@dataclass
class Result:
    scenario: Scenario
    commands: list[Command] = field(default_factory=list)
    seconds: float = 0.0
    probes: list[Command] = field(default_factory=list)
    """Commands sent one at a time after the burst was acknowledged, while it was in flight."""

    @property
    def probe_ms(self) -> list[float]:
        return sorted(c.ack_seconds * 1000 for c in self.probes)

    @property
    def ack_ms(self) -> list[float]:
        return sorted(c.ack_seconds * 1000 for c in self.commands)

    def over_limit(self) -> int:
        """Acks that make Slack show the user an error: too late, or not a 200."""
        return sum(1 for c in self.commands if c.ack_seconds > SLACK_ACK_LIMIT or c.status != 200)

    def failed(self) -> str:
        """Acks Slack would not take, by kind: ``"495 were 404"``, ``"3 got no response"``."""
        kinds = Counter(c.status for c in self.commands if c.status != 200)
        return ", ".join(
            f"{count} got no response" if status is None else f"{count} were {status}"
            for status, count in sorted(kinds.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        )

    def answered(self) -> int:
        return sum(1 for c in self.commands if answered_ok(c))

    def answer_seconds(self) -> list[float]:
        return sorted(c.answer.at - c.sent_at for c in self.commands if c.answer is not None)


def run_scenario(
    scenario: Scenario,
    *,
    slack: SlackStandin,
    proxy: DelayProxy,
    workdir: Path,
) -> Result:
    subject = make_subject(
        scenario.subject, workdir=workdir, airflow_url=proxy.url, slack_api_url=slack.api_url
    )
    subject.start(ready_timeout=60)
    try:
        proxy.delay = 0.0
        warm_up(subject, slack)
        slack.reset()
        proxy.delay = scenario.delay
        commands = new_commands(slack, scenario.burst, "B")
        probes = new_commands(slack, PROBES, "P") if scenario.burst >= 50 else []
        send_as_users(subject.url, commands, probes, timeout=scenario.window)
        began = min(c.sent_at for c in commands)
        wait_for_answers(slack, commands, began + scenario.window)
        return Result(scenario, commands, time.monotonic() - began, probes)
    finally:
        subject.kill()
        proxy.delay = 0.0


# -- reporting ----------------------------------------------------------------------------------


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


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def host_info() -> list[str]:
    """The machine and the Python stack the subjects run on, as Markdown list items."""
    return [
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"load average at the start {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"slack_bolt {dist_version('slack_bolt')}, slack_sdk {dist_version('slack_sdk')}, "
        f"gunicorn {dist_version('gunicorn')}",
    ]


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
        f"{gunicorn_conf.threads} threads (`WEB_CONCURRENCY`, `WEB_THREADS`), for both subjects.",
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


def write_markdown(
    results: Sequence[Result], info: Sequence[str], started: datetime, seconds: float
) -> str:
    text = "\n".join(
        [
            "# Slash-command ack latency: our bot and a default Bolt app",
            "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench.ack_latency` "
            f"(the whole run took {seconds / 60:.1f} min).",
            "",
            *info,
            f"- Load average (1 min) at the end: {os.getloadavg()[0]:.2f}; other work on the "
            "machine during the run would show in it.",
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
            "",
        ]
    )
    return text


def write_chart(results: Sequence[Result], path: Path) -> None:
    plt = pyplot()

    scenarios = sorted({(r.scenario.delay, r.scenario.burst) for r in results})
    labels = [f"{fmt_delay(d)} delay\n{b} at once" for d, b in scenarios]
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(scenarios)), 4.8))
    for offset, subject, colour in (
        (-width / 2, OURS, "#2a7ab9"),
        (width / 2, BASELINE, "#d9822b"),
    ):
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


# -- the run ------------------------------------------------------------------------------------


def widen_backlog(server: socketserver.TCPServer | None) -> None:
    """Let a stand-in's listening socket queue a burst's connections.

    socketserver listens with a backlog of 5: under a burst, further connections to the Slack
    stand-in or the proxy are dropped and their SYN retried a second later, a delay that real
    Slack and a real Airflow load balancer would not add to the subjects' answers.
    """
    if server is not None:
        server.socket.listen(BACKLOG)


def subject_list(value: str) -> list[str]:
    """``--subjects ours,bolt-default``: argparse's type for it."""
    subjects = [s for s in value.split(",") if s]
    unknown = set(subjects) - set(SUBJECTS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown subjects {sorted(unknown)}; choose from {', '.join(SUBJECTS)}"
        )
    return subjects


def parse_list(kind: Callable[[str], float | int]) -> Callable[[str], list[float | int]]:
    def parse(value: str) -> list[float | int]:
        return [kind(part) for part in value.split(",") if part.strip()]

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bursts", type=parse_list(int), default=list(DEFAULT_BURSTS))
    parser.add_argument("--delays", type=parse_list(float), default=list(DEFAULT_DELAYS))
    parser.add_argument("--subjects", type=subject_list, default=list(SUBJECTS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    started_at = datetime.now(UTC)
    began = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    results: list[Result] = []
    log("starting Airflow 3 (tests.support.airflow_harness)")
    airflow = start_bench_airflow(3, run_dir / "airflow")
    failed = True
    try:
        info = machine_info(airflow)
        with SlackStandin() as slack, DelayProxy(airflow.url, delay=0.0) as proxy:
            widen_backlog(slack._server)
            widen_backlog(proxy._server)
            for delay in args.delays:
                for burst in args.bursts:
                    for subject in args.subjects:
                        scenario = Scenario(subject, float(delay), int(burst))
                        workdir = run_dir / f"{subject}-{delay:g}s-{burst}"
                        workdir.mkdir()
                        log(f"{subject}: {burst} at once, Airflow delay {delay:g} s")
                        result = run_scenario(scenario, slack=slack, proxy=proxy, workdir=workdir)
                        results.append(result)
                        log(
                            "  "
                            + " | ".join(result_row(result))
                            + f" ({result.seconds:.0f} s, load {os.getloadavg()[0]:.2f})"
                        )
        failed = False
    finally:
        airflow.stop()
        if failed:
            log(f"failed; the subjects' and Airflow's logs are kept in {run_dir}")

    text = write_markdown(results, info, started_at, time.monotonic() - began)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ack_latency.md").write_text(text)
    write_chart(results, args.out / "ack_latency.png")
    print(text)
    log(f"wrote {args.out / 'ack_latency.md'} and {args.out / 'ack_latency.png'}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
