"""The servers the ack benchmarks measure, and the Airflow they call.

* ``ours``: the bot as the Procfile's ``web`` line runs it (``testkit.bot_process``), with
  its default settings (``WORKER_THREADS`` 32, ``MAX_PENDING`` 1000).
* ``today``: the same, on the code of another git revision (``--today``, default main just
  before issue 19 was merged), taken with ``git archive`` and put first on ``PYTHONPATH``: the
  code before a change, side by side with it in one run.
* ``bolt-default``: ``bench/baseline_bolt_app.py``, a typical Bolt app with Bolt's defaults,
  under the same gunicorn settings (``bot/serve/gunicorn_conf.py``).
* ``floor``: ``bench/floor_app.py``, a WSGI app that answers 200 and does nothing else, under
  the same gunicorn settings: what acks cost on this machine before any bot code runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socketserver
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from testkit.airflow_harness import start as start_airflow
from testkit.bot_process import ROOT, BotProcess

OURS = "ours"
TODAY = "today"
BASELINE = "bolt-default"
FLOOR = "floor"
SUBJECTS = (OURS, BASELINE)
"""The subjects of the classic scenarios, and of bench.memory."""
ALL_SUBJECTS = (OURS, TODAY, BASELINE, FLOOR)
SUBJECT_LABELS = {
    OURS: "ours (Procfile web)",
    TODAY: "today's code (before issue 19)",
    BASELINE: "Bolt default",
    FLOOR: "floor (a WSGI app that does nothing)",
}


def label_today(revision: str) -> None:
    """Name today's code by its revision in the tables, when it is not the default one."""
    SUBJECT_LABELS[TODAY] = f"today's code ({revision})"


USER = "U0ALICE"
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


# Settings for our bot's process, from BENCH_BOT_ENV="NAME=value,..." (e.g. WORKER_THREADS=64).
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


def make_subject(
    name: str,
    *,
    workdir: Path,
    airflow_url: str,
    slack_api_url: str,
    processes: int | None = None,
    today_tree: Path | None = None,
) -> Subject:
    """``processes``: gunicorn's ``WEB_CONCURRENCY`` (None: the settings' default);
    ``today_tree``: the code the ``today`` subject runs (``code_of``)."""
    env = {} if processes is None else {"WEB_CONCURRENCY": str(processes)}
    if name in (OURS, TODAY):
        config = OUR_CONFIG.format(url=airflow_url, username=ADMIN_USER, user=USER)
        if name == TODAY:
            if today_tree is None:
                raise ValueError("the today subject needs the tree of today's code")
            env["PYTHONPATH"] = str(today_tree)  # before the installed (editable) bot
        return Subject(
            workdir=workdir,
            config=config,
            slack_api_url=slack_api_url,
            env={"AF_PASSWORD": ADMIN_PASSWORD, **_EXTRA_ENV, **env},
        )
    app = {BASELINE: "bench.baseline_bolt_app", FLOOR: "bench.floor_app"}[name]
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return Subject(
        workdir=workdir,
        config="",  # not read by the baseline
        slack_api_url=slack_api_url,
        env={
            "AIRFLOW_URL": airflow_url,
            "AIRFLOW_USERNAME": ADMIN_USER,
            "AIRFLOW_PASSWORD": ADMIN_PASSWORD,
            **env,
        },
        # --pythonpath: bench/ is not an installed package and the process runs in workdir.
        command=[
            gunicorn, "--config", "python:bot.serve.gunicorn_conf", "--pythonpath", str(ROOT),
            f"{app}:application",
        ],
    )  # fmt: skip


def code_of(revision: str, into: Path) -> tuple[Path, str]:
    """The bot's code at a git revision, unpacked under ``into``; and its commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = into / "today.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", commit, "bot", "commands"], cwd=ROOT, stdout=out, check=True
        )
    tree = into / "today"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree, commit


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
    unknown = set(subjects) - set(ALL_SUBJECTS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown subjects {sorted(unknown)}; choose from {', '.join(ALL_SUBJECTS)}"
        )
    return subjects


def parse_list(kind: Callable[[str], float | int]) -> Callable[[str], list[float | int]]:
    """``--bursts 1,50,500``: argparse's type for a list of numbers."""

    def parse(value: str) -> list[float | int]:
        return [kind(part) for part in value.split(",") if part.strip()]

    return parse
