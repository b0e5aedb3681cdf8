"""``./scripts/demo``: try the bot on this machine, with nothing of your own to set up.

Starts a real Airflow 3 on 127.0.0.1 with the sample DAGs in ``demo/dags`` (installed on first use
and cached, by ``testkit/airflow_harness.py``), writes a config that makes you an operator,
and opens ``python -m bot console`` against it. Everything stops, and the temporary files go, when
the console ends (Ctrl-D).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.airflow import AirflowClient, AirflowError
from bot.tools.console import DEFAULT_USER, run_console
from testkit.airflow_harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    AIRFLOW_VERSIONS,
    cache_dir,
    start,
)

DAGS = Path(__file__).resolve().parent / "dags"
VIEWER = "U0VIEWER"
CONFIG = """\
# Written by ./scripts/demo: the local Airflow, and who may do what in the console.
deployments:
  demo:
    url: {url}
    username: {user}
    password: ${{DEMO_AIRFLOW_PASSWORD}}
grants:
  - role: operator              # you, in the console
    users: [{you}]
  - role: viewer                # list and status only: try a command with --as {viewer}
    users: [{viewer}]
"""
INTRO = f"""\

Try:
  /airflow list                                  the sample DAGs
  /airflow trigger hello_world {{"name": "Ada"}}    then /airflow status hello_world
  /airflow pause etl_daily --as {VIEWER}          a viewer may not
  /airflow help"""
# What a developer's environment may hold that must not leak into the demo's bot.
_NOT_INHERITED = ("SLACK_", "CHATOPS_", "DATABASE_URL", "AIRFLOW_")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/demo", description=__doc__)
    parser.parse_args(argv)

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    # SIGTERM unwinds through every `finally`: Airflow's processes must not outlive the demo.
    signal.signal(signal.SIGTERM, terminate)
    version = AIRFLOW_VERSIONS[3]
    first = not (cache_dir() / f"airflow-{version}").exists()
    print(
        f"Starting Airflow {version} on this machine with the sample DAGs"
        + (f" (installing it first into {cache_dir()}: about a minute)" if first else "")
        + "...",
        flush=True,
    )
    began = time.monotonic()
    try:
        server = start(3, dags_folder=DAGS, scheduler=True)
    except RuntimeError as exc:
        print(f"Airflow did not start:\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    workdir = Path(tempfile.mkdtemp(prefix="chatops-demo-"))
    try:
        print(f"Airflow is up at {server.url} ({time.monotonic() - began:.0f} s).", flush=True)
        _unpause(server.url, "hello_world")
        config = workdir / "chatops.yml"
        config.write_text(
            CONFIG.format(url=server.url, user=ADMIN_USER, you=DEFAULT_USER, viewer=VIEWER)
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env.update(
            CHATOPS_CONFIG=str(config),
            DATABASE_URL=f"sqlite:///{workdir / 'chatops.db'}",
            DEMO_AIRFLOW_PASSWORD=ADMIN_PASSWORD,
        )
        return run_console(env, log_path=workdir / "bot.log", intro=INTRO)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        print("Stopping Airflow...", flush=True)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _unpause(url: str, dag_id: str) -> None:
    # New DAGs start paused; this one is unpaused so that a trigger runs at once.
    client = AirflowClient(base_url=url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    try:
        client.set_paused(dag_id, False)
    except AirflowError as exc:
        print(f"(could not unpause {dag_id}: {exc.message})", file=sys.stderr)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
