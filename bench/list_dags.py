"""Listing a deployment with 5,000 DAGs: time to the first reply, and Airflow API calls per page.

    .venv/bin/python -m bench.list_dags [--dags 5000] [--airflow 3,2] [--delays 0,0.05]
        [--repeats 5]

Sets up, all on 127.0.0.1: a folder of generated DAG files (``--dags`` DAGs, 100 per file, as a
DAG factory would write them), a real Airflow (``testkit.airflow_harness``) serialising them at
start-up, some DAG runs, the Slack stand-in (``bot.tools.localslack``) and a ``DelayProxy`` in
front of Airflow that records every API call and answers after ``--delays`` seconds. Two
subjects are started side by side against the same proxy, under the Procfile's gunicorn
settings:

* ``ours``: the bot as the Procfile's ``web`` line runs it (``testkit.bot_process.BotProcess``);
* ``naive``: ``bench/naive_list_app.py``, a Bolt app that pages through ``GET /dags`` until it
  has every DAG (100 per call, Airflow's cap) and shows 20 of them.

Each subject's very first command after start-up is measured on its own (``cold``: it includes
finding the API version and fetching a JWT, once per gunicorn process). Then, ``--repeats`` times
per proxy delay, the subjects taking turns, each is sent, one at a time:

* ``first page``: ``/airflow list <deployment>``;
* ``Next page``: a click on the **Next** button of the list just posted (a signed
  ``block_actions`` payload like Slack's);
* ``filtered``: ``/airflow list <deployment> finance`` (a tenth of the DAGs match);
* ours only, ``first page, granted sales_* only``: the same list by a user whose grant covers
  only the ``sales_*`` DAGs (a tenth of them).

For each: the time from sending the signed request to the answer reaching the stand-in (ours:
the threaded reply, or the list rewritten in place for Next; naive: its ``response_url`` post),
the Airflow API calls the proxy saw for it (counted once the subject is idle again), and whether
the answer shows the right page (its range, e.g. "21-40 of 5000", and its first DAG).

Writes ``bench/results/list_dags.md`` (also printed), ``bench/results/list_dags.png`` and every
sample in ``bench/results/list_dags.json``. The full run takes about 16 minutes, most of it
Airflow 2 parsing the DAGs and the naive subject's 50-call lists there.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.ack_subjects import Subject, start_bench_airflow, widen_backlog
from bench.report import log, markdown_table, pyplot
from bot.serve import gunicorn_conf
from bot.tools.localslack import Call, SlackStandin
from bot.tools.signing import block_actions_body, post_signed, slash_command_body
from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from testkit.bot_process import ROOT, SIGNING_SECRET
from testkit.conversation import visible_text
from testkit.delay_proxy import DelayProxy

OURS = "ours"
NAIVE = "naive"
SUBJECT_LABELS = {OURS: "ours (Procfile web)", NAIVE: "naive: fetch all, show 20"}

FIRST = "first page"
NEXT = "Next page"
FILTERED = "filtered"
RESTRICTED = "first page, granted sales_* only"
OPERATIONS = (FIRST, NEXT, FILTERED, RESTRICTED)
COLD = "first page, cold"
"""The first command a freshly started subject serves: API version and JWT not known yet."""

DEFAULT_DAGS = 5000
DAGS_PER_FILE = 100
"""A DAG factory's file: small enough to parse well within Airflow's 30 s import timeout."""
TEAMS = ("analytics", "billing", "crm", "finance", "growth", "infra", "marketing", "ml", "ops",
         "sales")  # fmt: skip
FILTER = "finance"
GLOB = "sales_*"
RUN_EVERY = 13
"""Every 13th DAG gets a run: coprime with the 10 teams, so most pages show a run or two."""
PAGE_SIZE = 20
"""What both subjects show per page (``commands/list.py``'s ``PAGE_SIZE``)."""
GOAL_CALLS = 2
"""Issue 7's goal: one list page in at most 2 API calls, whatever the DAG count."""

USER = "U0ALICE"
SALES_USER = "U0SALES"
ANSWER_TIMEOUT = 600.0
"""Naive lists on Airflow 2 pay its basic-auth password check on each of 50 calls."""
QUIET_SECONDS = 0.5
"""A subject is idle once the proxy has seen no call for this long after its answer."""
WORKERS = gunicorn_conf.workers
"""gunicorn processes per subject: ``bot/serve/gunicorn_conf.py``'s (``WEB_CONCURRENCY``, default 2)."""

AIRFLOW_CFG = """\
[core]
dagbag_import_timeout = 600
"""
"""A loaded 2-core machine can take longer than the default 30 s to import a file of 100 DAGs;
a timed-out file would silently leave its DAGs out."""

OUR_CONFIG = """
deployments:
  {name}:
    url: {url}
    username: {username}
    password: ${{AF_PASSWORD}}
grants:
  - role: operator
    users: [{user}]
  - role: viewer
    users: [{sales_user}]
    dags: ["{glob}"]
"""


# -- the DAGs -------------------------------------------------------------------------------------


DAG_FILE = '''\
"""DAGs {first}..{last_included} of a generated deployment (bench.list_dags)."""

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

TEAMS = {teams!r}
SCHEDULES = ("@daily", "@hourly", None, "0 6 * * 1")
START = pendulum.datetime(2024, 1, 1, tz="UTC")

for n in range({first}, {last}):
    with DAG(
        dag_id=f"{{TEAMS[n % len(TEAMS)]}}_pipeline_{{n:04d}}",
        description=f"Generated pipeline {{n}} of team {{TEAMS[n % len(TEAMS)]}}",
        schedule=SCHEDULES[n % len(SCHEDULES)],
        start_date=START,
        catchup=False,
        is_paused_upon_creation=n % 3 != 0,
        tags=[TEAMS[n % len(TEAMS)]],
    ):
        EmptyOperator(task_id="noop")
'''


def dag_id(n: int) -> str:
    """The id the generated files give DAG ``n``; must match ``DAG_FILE``."""
    return f"{TEAMS[n % len(TEAMS)]}_pipeline_{n:04d}"


def write_dag_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for first in range(0, count, DAGS_PER_FILE):
        last = min(count, first + DAGS_PER_FILE)
        text = DAG_FILE.format(first=first, last=last, last_included=last - 1, teams=TEAMS)
        (folder / f"generated_{first // DAGS_PER_FILE:03d}.py").write_text(text)


@dataclass(frozen=True)
class Expected:
    """What each operation must show: the range in its header, and its first DAG."""

    total: int
    matching: int
    sales: int
    first_ids: dict[str, str]

    @classmethod
    def of(cls, count: int) -> Expected:
        ids = sorted(dag_id(n) for n in range(count))
        matching = [d for d in ids if FILTER in d]
        sales = [d for d in ids if d.startswith(GLOB.rstrip("*"))]
        return cls(
            total=len(ids),
            matching=len(matching),
            sales=len(sales),
            first_ids={
                FIRST: ids[0],
                COLD: ids[0],
                NEXT: ids[PAGE_SIZE],
                FILTERED: matching[0],
                RESTRICTED: sales[0],
            },
        )

    def range_text(self, operation: str) -> str:
        if operation == NEXT:
            return f"{PAGE_SIZE + 1}-{2 * PAGE_SIZE} of {self.total}"
        if operation == RESTRICTED:
            # Read only until more than a page of theirs was found, the bot can bound their
            # count but not know it: the listing narrowed to "sales_" holds just theirs here.
            return f"1-{PAGE_SIZE} of up to {self.sales}"
        of = self.matching if operation == FILTERED else self.total
        return f"1-{PAGE_SIZE} of {of}"

    def describe(self, operation: str) -> str:
        return f"{self.range_text(operation)}, from {self.first_ids[operation]}"

    def check(self, operation: str, text: str) -> bool:
        return self.range_text(operation) in text and self.first_ids[operation] in text


# -- Airflow --------------------------------------------------------------------------------------


class DirectApi:
    """Calls to Airflow itself, not through the proxy: the set-up, which nobody measures."""

    def __init__(self, server: AirflowServer) -> None:
        self.major = server.major
        self.base = f"{server.url}/api/{'v2' if server.major == 3 else 'v1'}"
        self.session = requests.Session()
        if server.major == 3:
            resp = self.session.post(
                f"{server.url}/auth/token",
                json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                timeout=30,
            )
            resp.raise_for_status()
            self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        else:
            self.session.auth = (ADMIN_USER, ADMIN_PASSWORD)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self.session.request(method, f"{self.base}{path}", timeout=120, **kwargs)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        body: dict[str, Any] = resp.json()
        return body

    def total_dags(self, **params: str) -> int:
        return int(self.call("GET", "/dags", params={"limit": 1, **params})["total_entries"])

    def seed_run(self, n: int) -> None:
        """One run of DAG ``n``, marked success or failed (no scheduler runs here)."""
        dag, run_id = dag_id(n), f"seed__{n:04d}"
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": {}}
        if self.major == 3:
            body["logical_date"] = None
        self.call("POST", f"/dags/{dag}/dagRuns", json=body)
        state = "success" if (n // RUN_EVERY) % 2 == 0 else "failed"
        self.call("PATCH", f"/dags/{dag}/dagRuns/{run_id}", json={"state": state})


@dataclass
class Deployment:
    server: AirflowServer
    start_seconds: float
    unpaused: int
    runs: int
    seed_seconds: float

    @property
    def name(self) -> str:
        return f"af{self.server.major}"


def start_deployment(major: int, dags: Path, home: Path, count: int) -> Deployment:
    began = time.monotonic()
    # start() returns once `airflow dags reserialize` has exited: every DAG is in the database.
    server = start_bench_airflow(
        major, home, more_cfg=AIRFLOW_CFG, dags_folder=dags, ready_timeout=1800
    )
    start_seconds = time.monotonic() - began
    try:
        api = DirectApi(server)
        total = api.total_dags()
        if total != count:
            raise RuntimeError(
                f"Airflow {server.version} lists {total} DAGs, not {count}: some files did not "
                f"parse; see {home / 'harness-logs' / 'reserialize.log'}"
            )
        unpaused = api.total_dags(paused="false")
        log(
            f"Airflow {server.version}: {total} DAGs serialised ({unpaused} unpaused), up in "
            f"{start_seconds:.0f} s"
        )
        seeded = list(range(0, count, RUN_EVERY))
        began = time.monotonic()
        # One at a time: Airflow's SQLite takes one writer, and concurrent triggers fail with
        # "database is locked" after its 5 s busy timeout.
        for n in seeded:
            api.seed_run(n)
        seed_seconds = time.monotonic() - began
        log(f"Airflow {server.version}: {len(seeded)} runs created in {seed_seconds:.0f} s")
    except BaseException:
        server.stop()
        raise
    return Deployment(server, start_seconds, unpaused, len(seeded), seed_seconds)


# -- the subjects ---------------------------------------------------------------------------------


def make_subject(
    name: str, *, workdir: Path, deployment: Deployment, proxy_url: str, slack_api_url: str
) -> Subject:
    workdir.mkdir(parents=True)
    if name == OURS:
        config = OUR_CONFIG.format(
            name=deployment.name,
            url=proxy_url,
            username=ADMIN_USER,
            user=USER,
            sales_user=SALES_USER,
            glob=GLOB,
        )
        return Subject(
            workdir=workdir,
            config=config,
            slack_api_url=slack_api_url,
            env={"AF_PASSWORD": ADMIN_PASSWORD},
        )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return Subject(
        workdir=workdir,
        config="",  # not read by the naive app
        slack_api_url=slack_api_url,
        env={
            "AIRFLOW_URL": proxy_url,
            "AIRFLOW_API": "v2" if deployment.server.major == 3 else "v1",
            "AIRFLOW_USERNAME": ADMIN_USER,
            "AIRFLOW_PASSWORD": ADMIN_PASSWORD,
            "DEPLOYMENT": deployment.name,
        },
        # --pythonpath: bench/ is not an installed package and the process runs in workdir.
        command=[
            gunicorn,
            "--config",
            "python:bot.serve.gunicorn_conf",
            "--pythonpath",
            str(ROOT),
            "bench.naive_list_app:application",
        ],
    )


def setup_path(path: str) -> bool:
    """A call a process makes once, before its first real one: API version, JWT."""
    return path.startswith("/auth/token") or "/version" in path


# -- sending commands and reading answers ---------------------------------------------------------


@dataclass
class Sample:
    subject: str
    operation: str
    delay: float
    seconds: float
    calls: list[tuple[str, str]]
    correct: bool
    answer: str
    """The answer's first line, to show what a wrong one said."""
    expected: str
    """What it should have shown, e.g. ``1-20 of 500 from sales_pipeline_0009``."""

    @property
    def page_calls(self) -> int:
        """Calls made for this page, without a process's one-off version and JWT calls."""
        return sum(1 for _, path in self.calls if not setup_path(path))


@dataclass
class Bench:
    """One Airflow behind one proxy, the Slack stand-in, and the subjects, as they run."""

    deployment: Deployment
    proxy: DelayProxy
    slack: SlackStandin
    subjects: dict[str, Subject]
    expected: Expected
    stray_calls: int = 0
    """Calls the proxy saw while no command was in flight: there should be none."""
    _channels: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))
    _idle_count: int = 0

    def channel(self) -> str:
        return f"C0L{next(self._channels):06d}"

    def _begin(self) -> int:
        seen = len(self.proxy.seen)
        self.stray_calls += seen - self._idle_count
        return seen

    def _end(self, first: int) -> list[tuple[str, str]]:
        """The calls since ``first``, once none has come for ``QUIET_SECONDS``."""
        count, since = len(self.proxy.seen), time.monotonic()
        while time.monotonic() - since < QUIET_SECONDS:
            time.sleep(0.05)
            if len(self.proxy.seen) != count:
                count, since = len(self.proxy.seen), time.monotonic()
        calls = list(self.proxy.seen[first:count])
        self._idle_count = count
        return [(method, strip_api(path)) for method, path in calls]

    def send_slash(self, subject: str, text: str, user: str) -> tuple[float, Call, str]:
        """Send ``/airflow text``; return when it was sent, its answer, and its channel."""
        channel, response_url = self.channel(), self.slack.new_response_url()
        body = slash_command_body(
            text=text, user_id=user, channel_id=channel, response_url=response_url
        )
        sent = time.monotonic()
        status, ack = post_signed(
            f"{self.subjects[subject].url}/slack/events", body, SIGNING_SECRET
        )
        if status != 200:
            raise RuntimeError(f"{subject}: /airflow {text} was answered {status} {ack!r}")
        if subject == OURS:
            answer = self._wait(
                "chat.postMessage",
                lambda c: c.params.get("channel") == channel and "thread_ts" in c.params,
            )
            # The command is over once the parent message shows its outcome.
            self._wait("chat.update", lambda c: c.params.get("channel") == channel)
        else:
            answer = self._wait(
                "response_url", lambda c: c.params.get("_response_url") == response_url
            )
        return sent, answer, channel

    def _wait(self, method: str, where: Callable[[Call], bool]) -> Call:
        return self.slack.wait_for(method, where=where, timeout=ANSWER_TIMEOUT)[0]

    def slash(self, subject: str, operation: str, text: str, user: str = USER) -> Sample:
        first = self._begin()
        sent, answer, _ = self.send_slash(subject, text, user)
        return self._sample(subject, operation, answer.at - sent, first, answer.params)

    def first_and_next(self, subject: str) -> tuple[Sample, Sample]:
        """A first page, then a click on its Next button."""
        first = self._begin()
        sent, answer, channel = self.send_slash(subject, f"list {self.deployment.name}", USER)
        page = self._sample(subject, FIRST, answer.at - sent, first, answer.params)
        if subject == OURS:
            ts = str((answer.result or {}).get("ts"))
            message = self.slack.message(channel, ts)
        else:
            ts = f"{time.time():.6f}"  # the naive app answers ephemerally: no message to edit
            message = {
                "type": "message",
                "ts": ts,
                "text": answer.params.get("text", ""),
                "blocks": answer.params.get("blocks") or [],
            }
        button = next_button(message)
        url = self.slack.new_response_url(channel=channel, message_ts=ts)
        body = block_actions_body(
            message_ts=ts,
            action_id=button["action_id"],
            value=button.get("value", ""),
            response_url=url,
            user_id=USER,
            channel_id=channel,
            thread_ts=message.get("thread_ts"),
            block_id=button["block_id"],
            message=message,
            button_text=button["text"]["text"],
        )
        first = self._begin()
        sent = time.monotonic()
        status, ack = post_signed(
            f"{self.subjects[subject].url}/slack/events", body, SIGNING_SECRET
        )
        if status != 200:
            raise RuntimeError(f"{subject}: the Next click was answered {status} {ack!r}")
        if subject == OURS:
            # Next rewrites the list in place.
            answer = self._wait(
                "chat.update",
                lambda c: c.params.get("channel") == channel and c.params.get("ts") == ts,
            )
        else:
            answer = self._wait("response_url", lambda c: c.params.get("_response_url") == url)
        return page, self._sample(subject, NEXT, answer.at - sent, first, answer.params)

    def _sample(
        self, subject: str, operation: str, seconds: float, first: int, message: dict[str, Any]
    ) -> Sample:
        calls = self._end(first)
        text = visible_text(message)
        return Sample(
            subject=subject,
            operation=operation,
            delay=self.proxy.delay,
            seconds=seconds,
            calls=calls,
            correct=self.expected.check(operation, text),
            answer=text.strip().splitlines()[0] if text.strip() else "",
            expected=self.expected.describe(operation),
        )

    def cold(self, subject: str) -> Sample:
        """The subject's first command, which finds the API version and fetches a JWT.

        Each gunicorn process does that on its own first command. Warming up every process
        beforehand cannot be forced: with one command in flight at a time, the process that
        was idle longest is not the one the kernel hands the connection, and one process tends
        to get them all. A later sample that does land on a cold process shows its one-off
        calls apart from its page's calls.
        """
        return self.slash(subject, COLD, f"list {self.deployment.name}")


def next_button(message: dict[str, Any]) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("type") == "button" and "Next" in element["text"]["text"]:
                return {**element, "block_id": block.get("block_id") or "actions"}
    raise RuntimeError(f"no Next button in the list: {visible_text(message)[:500]}")


def strip_api(path: str) -> str:
    """``/api/v2/dags?limit=20`` -> ``/dags``: the call's kind, the same on both versions."""
    path = urlsplit(path).path
    for prefix in ("/api/v1", "/api/v2"):
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


# -- a run on one Airflow -------------------------------------------------------------------------


@dataclass
class AirflowResult:
    deployment: Deployment
    dag_count: int
    samples: list[Sample]
    stray_calls: int


def run_on(
    deployment: Deployment,
    *,
    slack: SlackStandin,
    workdir: Path,
    delays: Sequence[float],
    repeats: int,
    dag_count: int,
) -> AirflowResult:
    expected = Expected.of(dag_count)
    samples: list[Sample] = []
    with ExitStack() as stack:
        proxy = stack.enter_context(DelayProxy(deployment.server.url, delay=delays[0]))
        widen_backlog(proxy._server)
        subjects: dict[str, Subject] = {}
        for name in (OURS, NAIVE):
            subject = make_subject(
                name,
                workdir=workdir / name,
                deployment=deployment,
                proxy_url=proxy.url,
                slack_api_url=slack.api_url,
            )
            stack.callback(subject.kill)
            subject.start(ready_timeout=60)
            subjects[name] = subject
        bench = Bench(deployment, proxy, slack, subjects, expected)
        for name in subjects:
            cold = bench.cold(name)
            samples.append(cold)
            log(f"  {name}: {describe(cold)}")
        for delay in delays:
            proxy.delay = delay
            for rep in range(repeats):
                # Taking turns, each going first every other time: load on the machine from
                # elsewhere falls on both alike.
                order = [OURS, NAIVE] if rep % 2 == 0 else [NAIVE, OURS]
                for name in order:
                    page, following = bench.first_and_next(name)
                    filtered = bench.slash(name, FILTERED, f"list {deployment.name} {FILTER}")
                    done = [page, following, filtered]
                    if name == OURS:
                        done.append(
                            bench.slash(name, RESTRICTED, f"list {deployment.name}", SALES_USER)
                        )
                    samples += done
                    for sample in done:
                        log(f"  delay {delay:g} s, #{rep + 1} {name}: {describe(sample)}")
        slack.reset()
        return AirflowResult(deployment, dag_count, samples, bench.stray_calls)


def describe(sample: Sample) -> str:
    kinds = Counter(f"{m} {p}" for m, p in sample.calls)
    return (
        f"{sample.operation}: {sample.seconds * 1000:,.0f} ms, {len(sample.calls)} calls "
        f"({', '.join(f'{k} x{v}' for k, v in kinds.items())})"
        + ("" if sample.correct else f", WRONG ANSWER: {sample.answer!r}")
    )


# -- reporting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    major: int
    version: str
    delay: float
    operation: str
    subject: str
    samples: tuple[Sample, ...]

    @property
    def expected(self) -> str:
        return self.samples[0].expected

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000

    @property
    def page_calls(self) -> list[int]:
        return [s.page_calls for s in self.samples]

    @property
    def all_calls(self) -> list[int]:
        return [len(s.calls) for s in self.samples]


def rows_of(results: Sequence[AirflowResult]) -> list[Row]:
    rows = []
    for result in results:
        server = result.deployment.server
        keys: dict[tuple[float, str, str], list[Sample]] = {}
        for sample in result.samples:
            keys.setdefault((sample.delay, sample.operation, sample.subject), []).append(sample)
        order = {op: i for i, op in enumerate((COLD, *OPERATIONS))}
        for (delay, operation, subject), samples in sorted(
            keys.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2] != OURS)
        ):
            rows.append(
                Row(server.major, server.version, delay, operation, subject, tuple(samples))
            )
    return rows


def fmt_ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def fmt_range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def call_kinds(row: Row) -> str:
    """The calls of one sample by kind (all samples of a row make the same ones, or say so)."""
    kinds = {tuple(sorted(Counter(f"`{m} {p}`" for m, p in s.calls).items())) for s in row.samples}
    text = ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds)[0])
    # E.g. a sample that landed on a process not warm yet, with its version and JWT calls.
    return text + (" (varies)" if len(kinds) > 1 else "")


HEADERS = [
    "Airflow",
    "proxy delay",
    "operation",
    "subject",
    "n",
    "median ms",
    "max ms",
    "API calls per page",
    "+ one-off calls (version, JWT)",
    "the calls (one sample)",
    "right page shown",
]


def table(rows: Sequence[Row]) -> str:
    cells_of_rows: list[list[str]] = []
    for row in rows:
        setup = [a - p for a, p in zip(row.all_calls, row.page_calls, strict=True)]
        right = sum(1 for s in row.samples if s.correct)
        wrong = next((s.answer for s in row.samples if not s.correct), "")
        cells = [
            row.version,
            f"{row.delay:g} s",
            row.operation,
            SUBJECT_LABELS[row.subject],
            str(len(row.samples)),
            fmt_ms(row.median_ms),
            fmt_ms(row.max_ms),
            fmt_range(row.page_calls),
            fmt_range(setup),
            call_kinds(row),
            f"{right}/{len(row.samples)}" + (f' (said "{wrong[:80]}")' if wrong else ""),
        ]
        cells_of_rows.append(cells)
    return markdown_table(HEADERS, cells_of_rows, numeric=range(4, 9))


def ratio_rows(rows: Sequence[Row]) -> list[tuple[Row, Row]]:
    """(ours, naive) pairs of the same Airflow, delay and operation."""
    by_key = {(r.major, r.delay, r.operation, r.subject): r for r in rows}
    pairs = []
    for r in rows:
        if r.subject == OURS:
            naive = by_key.get((r.major, r.delay, r.operation, NAIVE))
            if naive is not None:
                pairs.append((r, naive))
    return pairs


def fmt_ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"


def ratio_table(rows: Sequence[Row]) -> str:
    lines = [
        "| Airflow | proxy delay | operation | median time, naive / ours | "
        "API calls per page, naive / ours |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for ours, naive in ratio_rows(rows):
        calls_ours = statistics.median(ours.page_calls)
        calls_naive = statistics.median(naive.page_calls)
        lines.append(
            f"| {ours.version} | {ours.delay:g} s | {ours.operation} | "
            f"{fmt_ms(naive.median_ms)} / {fmt_ms(ours.median_ms)} ms = "
            f"**{fmt_ratio(naive.median_ms / ours.median_ms)}** | "
            f"{calls_naive:g} / {calls_ours:g} = **{fmt_ratio(calls_naive / calls_ours)}** |"
        )
    return "\n".join(lines)


def goal_line(rows: Sequence[Row]) -> str:
    ours = [r for r in rows if r.subject == OURS and r.operation != COLD]
    worst = max(max(r.page_calls) for r in ours)
    over = sorted(
        {f"{r.operation} (Airflow {r.version})" for r in ours if max(r.page_calls) > GOAL_CALLS}
    )
    verdict = "met" if worst <= GOAL_CALLS else f"not met: {', '.join(over)}"
    return (
        f"**Goal, one list page in at most {GOAL_CALLS} API calls whatever the DAG count: "
        f"{verdict}** (ours: at most {worst} per page, not counting a process's one-off API "
        "version and JWT calls on its first command)."
    )


def wrong_lines(rows: Sequence[Row]) -> list[str]:
    """A line for each operation where some answer did not show the page it should have."""
    wrong: dict[tuple[str, str, str], list[Sample]] = {}
    total: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        key = (row.subject, row.operation, row.version)
        total[key] += len(row.samples)
        wrong.setdefault(key, []).extend(s for s in row.samples if not s.correct)
    return [
        f"**Wrong answers: {SUBJECT_LABELS[subject]}, {operation}, Airflow {version}: "
        f'{len(samples)} of {total[subject, operation, version]}** said "{samples[0].answer}" '
        f'where "{samples[0].expected}" was due.'
        for (subject, operation, version), samples in wrong.items()
        if samples
    ]


def raw_samples(results: Sequence[AirflowResult]) -> str:
    """Every sample, for another look at the figures without running it all again."""
    return json.dumps(
        [
            {
                "airflow": r.deployment.server.version,
                "subject": s.subject,
                "operation": s.operation,
                "delay": s.delay,
                "seconds": round(s.seconds, 4),
                "page_calls": s.page_calls,
                "calls": [f"{m} {p}" for m, p in s.calls],
                "correct": s.correct,
                "answer": s.answer,
                "expected": s.expected,
            }
            for r in results
            for s in r.samples
        ],
        indent=1,
    )


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def write_markdown(
    results: Sequence[AirflowResult],
    *,
    started: datetime,
    seconds: float,
    load_start: float,
    generate_seconds: float,
    delays: Sequence[float],
    repeats: int,
) -> str:
    rows = rows_of(results)
    count = results[0].dag_count
    setups = [
        f"- Airflow {r.deployment.server.version}: {r.dag_count:,} DAGs in "
        f"{math.ceil(r.dag_count / DAGS_PER_FILE)} files serialised by the harness's `start()` "
        f"(`airflow dags reserialize`, then the API server up) in "
        f"{r.deployment.start_seconds:.0f} s, {r.deployment.unpaused:,} of them unpaused; "
        f"{r.deployment.runs} DAG runs created through the API in "
        f"{r.deployment.seed_seconds:.0f} s; "
        + (
            "no calls reached the proxy between commands."
            if r.stray_calls == 0
            else f"{r.stray_calls} calls reached the proxy between commands."
        )
        for r in results
    ]
    servers = " and ".join(
        f"{r.deployment.server.version} "
        + ("(api-server, JWT)" if r.deployment.server.major == 3 else "(webserver, basic auth)")
        for r in results
    )
    text = "\n".join(
        [
            f"# Listing {count:,} DAGs: time to the first reply and API calls per page",
            "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench.list_dags` "
            f"(the whole run took {seconds / 60:.1f} min).",
            "",
            f"- Machine: {platform.platform()}, {os.cpu_count()} cores, load average at the "
            f"start {load_start:.2f}, at the end {os.getloadavg()[0]:.2f} (other work on the "
            "machine during the run shows in it).",
            f"- Python {platform.python_version()}; slack_bolt {version('slack_bolt')}, "
            f"gunicorn {version('gunicorn')}, requests {version('requests')}.",
            f"- Airflow {servers}, 1 worker each on SQLite, the test harness's; everything on "
            "this one machine: Airflow, both subjects, the Slack stand-in, the proxy and the "
            "client.",
            f"- {count:,} DAGs generated in {generate_seconds:.1f} s, {DAGS_PER_FILE} per file "
            f"as a DAG factory writes them, ids `<team>_pipeline_<n>` over {len(TEAMS)} teams; "
            "every third one unpaused at creation, four kinds of schedule, one DAG in "
            f"{RUN_EVERY} with a finished run (success or failed).",
            *setups,
            "",
            goal_line(rows),
            "",
            *(line + "\n" for line in wrong_lines(rows)),
            ratio_table(rows),
            "",
            table(rows),
            "",
            "- *ours*: the Procfile's `web` line with its defaults "
            f"({WORKERS} gunicorn processes here), a deployment with a username and password "
            "(JWT on Airflow 3, basic auth on Airflow 2). *naive*: `bench/naive_list_app.py`, "
            "a Bolt app under the same gunicorn settings that pages through `GET /dags` 100 at "
            "a time (Airflow's cap) until it has them all, then shows 20, for Next too. It is "
            "given every benefit: kept-alive connections, a cached JWT, the filter passed to "
            "Airflow (so a filtered list fetches only the matching DAGs), and no call for last "
            "runs (ours shows each DAG's last run, from its second call).",
            "- *time*: from sending the signed request (a slash command, or a `block_actions` "
            "click on the Next button of the list just posted) to the answer reaching the Slack "
            "stand-in: ours, the list in the command's thread, or rewritten in place for Next; "
            "naive, its post to the `response_url`. Commands are sent one at a time, the "
            f"subjects taking turns; {repeats} of each per proxy delay "
            f"({', '.join(f'{d:g} s' for d in delays)} added to every Airflow call, a stand-in "
            "for the network between a bot and a hosted Airflow).",
            "- *API calls per page*: the calls the proxy saw from the request until the subject "
            f"was idle again (no call for {QUIET_SECONDS:g} s), without the one-off ones: each "
            "gunicorn process finds the API version and fetches a JWT (Airflow 3) on its first "
            "command. The *cold* rows are each subject's very first command, which makes them; a "
            "later command that lands on a process that has not served one yet makes them too, "
            "and they are counted in that column.",
            "- *right page shown*: the answer names the expected range (e.g. "
            f'"{PAGE_SIZE + 1}-{2 * PAGE_SIZE} of {count}") and the first DAG of that page in '
            f'id order. The `{GLOB}` row is a user whose only grant is `dags: ["{GLOB}"]`: '
            f"{count // len(TEAMS):,} of the DAGs are theirs.",
            "",
            "![time to the first reply and API calls per page](list_dags.png)",
            "",
        ]
    )
    return text


def write_chart(results: Sequence[AirflowResult], path: Path) -> None:
    from matplotlib import ticker

    plt = pyplot()

    rows = rows_of(results)
    pairs = [(o, n) for o, n in ratio_rows(rows) if o.operation != COLD]
    labels = [f"Airflow {o.version}\nproxy +{o.delay:g} s\n{o.operation}" for o, _ in pairs]

    def median_ms(row: Row) -> float:
        return row.median_ms

    def page_calls(row: Row) -> float:
        return float(statistics.median(row.page_calls))

    metrics: list[tuple[Callable[[Row], float], str, str]] = [
        (median_ms, "Time to the first reply (median)", "ms, log scale"),
        (page_calls, "Airflow API calls per page shown", "calls, log scale"),
    ]
    width = 0.38
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 1.05 * len(pairs)), 8.4))
    for ax, (metric, title, ylabel) in zip(axes, metrics, strict=True):
        for offset, index, subject, colour in (
            (-width / 2, 0, OURS, "#2a7ab9"),
            (width / 2, 1, NAIVE, "#d9822b"),
        ):
            values = [metric(pair[index]) for pair in pairs]
            xs = [i + offset for i in range(len(pairs))]
            bars = ax.bar(xs, values, width, label=SUBJECT_LABELS[subject], color=colour)
            ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7)
        ax.set_yscale("log")
        # Room above the tallest bar for its label and the legend; plain numbers on the axis.
        ax.set_ylim(top=max(metric(r) for pair in pairs for r in pair) * 6)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xticks(range(len(pairs)), labels, fontsize=7)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[1].set_ylim(bottom=0.8)
    axes[1].axhline(GOAL_CALLS, color="#c0392b", linestyle="--", linewidth=1)
    axes[1].text(
        len(pairs) - 0.5,
        GOAL_CALLS * 1.08,
        f"goal: {GOAL_CALLS} ",
        color="#c0392b",
        fontsize=8,
        ha="right",
    )
    fig.suptitle(f"/airflow list on {results[0].dag_count:,} DAGs", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the run --------------------------------------------------------------------------------------


def parse_floats(value: str) -> list[float]:
    return [float(part) for part in value.split(",") if part.strip()]


def parse_ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


@contextmanager
def kept_on_failure(run_dir: Path) -> Iterator[None]:
    """Remove the run's files, unless it failed: then its logs are worth reading."""
    try:
        yield
    except BaseException:
        log(f"failed; the subjects' and Airflow's files are kept in {run_dir}")
        raise
    shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.list_dags",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dags", type=int, default=DEFAULT_DAGS)
    parser.add_argument("--airflow", type=parse_ints, default=[3, 2], help="majors, e.g. 3,2")
    parser.add_argument(
        "--delays",
        type=parse_floats,
        default=[0.0, 0.05],
        help="seconds the proxy adds to each Airflow call",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.dags < 4 * PAGE_SIZE * len(TEAMS):
        parser.error(
            f"--dags must be at least {4 * PAGE_SIZE * len(TEAMS)}: a filtered list "
            "needs a Next page too"
        )
    if set(args.airflow) - {2, 3} or not args.delays or args.repeats < 1:
        parser.error("--airflow takes 2 and 3; --delays and --repeats need a value")

    started_at, began, load_start = datetime.now(UTC), time.monotonic(), os.getloadavg()[0]
    run_dir = Path(tempfile.mkdtemp(prefix="bench-list-dags-"))
    results: list[AirflowResult] = []
    with kept_on_failure(run_dir):
        dags = run_dir / "dags"
        generated = time.monotonic()
        write_dag_files(dags, args.dags)
        generate_seconds = time.monotonic() - generated
        with SlackStandin() as slack:
            for major in args.airflow:
                log(f"starting Airflow {major} with {args.dags} DAGs (testkit.airflow_harness)")
                deployment = start_deployment(major, dags, run_dir / f"airflow{major}", args.dags)
                try:
                    results.append(
                        run_on(
                            deployment,
                            slack=slack,
                            workdir=run_dir / f"subjects{major}",
                            delays=args.delays,
                            repeats=args.repeats,
                            dag_count=args.dags,
                        )
                    )
                finally:
                    deployment.server.stop()

    text = write_markdown(
        results,
        started=started_at,
        seconds=time.monotonic() - began,
        load_start=load_start,
        generate_seconds=generate_seconds,
        delays=args.delays,
        repeats=args.repeats,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "list_dags.md").write_text(text)
    write_chart(results, args.out / "list_dags.png")
    (args.out / "list_dags.json").write_text(raw_samples(results))
    print(text)
    log(f"wrote {args.out / 'list_dags.md'} and {args.out / 'list_dags.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
