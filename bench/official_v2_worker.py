"""The official ``apache-airflow-client`` 2.x against Airflow 2, for ``bench.client_vs_official``.

    AIRFLOW_PASSWORD=... <its venv>/bin/python bench/official_v2_worker.py URL USERNAME

apache-airflow-client 2.x (Airflow 2's ``/api/v1``) and 3.x (Airflow 3's ``/api/v2``) are two
major versions of one distribution, so they cannot share the project's venv: the benchmark
installs 2.x into a venv of its own under ``~/.cache/airflow-chatops`` and runs this file there.
It answers one JSON request per line on stdin with one JSON line on stdout:

* ``{"op": "first_call"}``: seconds from building a fresh client to its first DAG page.
* ``{"op": "measure", "what": "list"|"get"|"trigger", "calls": N, "threads": T, "seq": S}``:
  ``time_calls`` with the worker's long-lived client, as a ``Timing``'s fields.

That venv holds only the 2.x client and its dependencies, so this file imports nothing else; it
is also why ``time_calls``, the loop that times every subject of the benchmark, lives here: both
sides of every ratio are timed by the same code.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LIST_LIMIT = 20
GET_DAG_ID = "etl_daily"
TRIGGER_DAG_ID = "manual_only"
"""Paused at creation, like every test DAG, and no scheduler runs: a run is created, queued, and
nothing executes, so triggering costs Airflow only the API call."""
LOGICAL_DATE_BASE = datetime(2020, 1, 1, tzinfo=UTC)


def run_id(seq: int) -> str:
    """A run id no other call of the benchmark uses."""
    return f"bench_{seq:07d}"


def logical_date(seq: int) -> datetime:
    # Airflow 2 allows one run per DAG and logical date: a second apart per call keeps them apart.
    return LOGICAL_DATE_BASE + timedelta(seconds=seq)


@dataclass
class Timing:
    """``calls`` calls that answered without an error took ``seconds`` of wall time in all, and
    the client's process ``cpu_seconds`` of CPU time (all its threads)."""

    calls: int
    seconds: float
    cpu_seconds: float
    errors: int = 0
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0


def time_calls(call: Callable[[int], object], *, calls: int, threads: int, seq: int) -> Timing:
    """Make ``calls`` calls of ``call(n)``, with a distinct ``n`` from ``seq`` on, from
    ``threads`` threads sharing whatever ``call`` uses; wall time from the first call's start
    to the last one's answer.

    The threads take the next ``n`` as they become free rather than a fixed share each, so a
    thread that is slowed down by the scheduler does not leave the others idle at the end.
    """
    numbers: Iterator[int] = iter(range(seq, seq + calls))
    take = threading.Lock()
    errors: list[str] = []

    def work() -> None:
        while True:
            with take:
                n = next(numbers, None)
            if n is None:
                return
            try:
                call(n)
            except Exception as exc:  # counted and reported: one failure must not end a round
                errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")

    if threads <= 1:
        began, cpu_began = time.perf_counter(), time.process_time()
        work()
    else:
        ready = threading.Barrier(threads + 1)

        def start_then_work() -> None:
            ready.wait()
            work()

        pool = [
            threading.Thread(target=start_then_work, name=f"bench-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in pool:
            thread.start()
        ready.wait()
        began, cpu_began = time.perf_counter(), time.process_time()
        for thread in pool:
            thread.join()
    seconds = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu_began
    return Timing(
        calls - len(errors), seconds, cpu_seconds, len(errors), errors[0] if errors else ""
    )


class OfficialV2:
    """apache-airflow-client 2.x as its README shows it: a ``Configuration`` with basic auth,
    one ``ApiClient``, and the API classes over it."""

    def __init__(self, url: str, username: str, password: str) -> None:
        # Imported by name, as untyped: a type checker run from the project's venv would check
        # these calls against the 3.x client installed there, whose API differs.
        client: Any = importlib.import_module("airflow_client.client")
        dag_api: Any = importlib.import_module("airflow_client.client.api.dag_api")
        dag_run_api: Any = importlib.import_module("airflow_client.client.api.dag_run_api")
        self._dag_run: Any = importlib.import_module("airflow_client.client.model.dag_run")

        config = client.Configuration(host=f"{url}/api/v1", username=username, password=password)
        # One ApiClient shared by every thread, as ours is: its urllib3 PoolManager is
        # thread-safe, and its pool (5 per core by default, 10 here) outnumbers the 8 threads.
        self.api: Any = client.ApiClient(config)
        self.dags: Any = dag_api.DAGApi(self.api)
        self.runs: Any = dag_run_api.DAGRunApi(self.api)

    def call(self, what: str) -> Callable[[int], object]:
        make_run = self._dag_run.DAGRun

        def list_dags(_: int) -> object:
            return self.dags.get_dags(limit=LIST_LIMIT, offset=0, order_by="dag_id")

        def get_dag(_: int) -> object:
            return self.dags.get_dag(GET_DAG_ID)

        def trigger(n: int) -> object:
            body = make_run(dag_run_id=run_id(n), logical_date=logical_date(n), conf={})
            return self.runs.post_dag_run(TRIGGER_DAG_ID, body)

        return {"list": list_dags, "get": get_dag, "trigger": trigger}[what]

    def close(self) -> None:
        self.api.close()  # its thread pool, for async_req calls
        self.api.rest_client.pool_manager.clear()  # its connections


def first_call(url: str, username: str, password: str) -> float:
    """Building a client and getting its first page: all a fresh process pays before answering."""
    began = time.perf_counter()
    client = OfficialV2(url, username, password)
    try:
        client.call("list")(0)
        return time.perf_counter() - began
    finally:
        client.close()


def serve(url: str, username: str, password: str) -> None:
    client = OfficialV2(url, username, password)
    try:
        for line in sys.stdin:
            request: dict[str, Any] = json.loads(line)
            answer: dict[str, Any]
            if request["op"] == "first_call":
                answer = {"seconds": first_call(url, username, password)}
            else:
                timing = time_calls(
                    client.call(request["what"]),
                    calls=int(request["calls"]),
                    threads=int(request["threads"]),
                    seq=int(request["seq"]),
                )
                answer = asdict(timing)
            print(json.dumps(answer), flush=True)
    finally:
        client.close()


if __name__ == "__main__":
    # The password comes through the environment, where `ps` does not show it.
    serve(sys.argv[1], sys.argv[2], os.environ["AIRFLOW_PASSWORD"])
