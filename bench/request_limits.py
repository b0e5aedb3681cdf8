"""Refusing a large unsigned body: time and peak memory, Bolt's WSGI adapter against ours.

    .venv/bin/python -m bench.request_limits [--cases form-20MB,json-20MB,nested-20MB,json-45MB]

Each measurement runs in a fresh process of its own (this module re-run with ``--one``): the
real app (``bot.tools.localbot.LocalBot``, the Slack stand-in, a config whose one deployment is
never called), a body built in memory with a bogus signature, then one WSGI call with the
body as ``wsgi.input``, timed (wall and CPU). Peak memory is the kernel's: ``VmHWM`` after
the call, reset to the resident size (``/proc/self/clear_refs``) just before it, minus that
resident size. Subjects:

- before: ``slack_bolt.adapter.wsgi.SlackRequestHandler`` on the bot's Bolt app, as main
  served it: Bolt reads, decodes and parses the body, then checks the signature;
- after: ``bot.serve.wsgi.wsgi_app``, the ``web`` process's application (bot/serve/request_limits.py).

Each process is capped at 6 GiB of address space. Writes ``bench/results/request_limits.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import host_info, log, markdown_table

MB = 1000 * 1000
RESULTS = Path(__file__).parent / "results" / "request_limits.md"
CASES = {
    # name: (what, how many MB)
    "form-20MB": ("`text=aaaa...`", 20),
    "json-20MB": ("`payload=[{},{},...]`", 20),
    "nested-20MB": ("`payload=[[[[...`", 20),
    "json-45MB": ("`payload=[{},{},...]`", 45),
    # Under the limit: read and checked (one HMAC pass), refused 401, never parsed.
    "json-0.9MB": ("`payload=[{},{},...]`", 0.9),
}
SUBJECTS = ("before", "after")
ADDRESS_SPACE_CAP = 6 * 1024**3


@dataclass(frozen=True)
class Result:
    case: str
    subject: str
    status: str
    wall_s: float
    cpu_s: float
    peak_mib: float


def body_of(case: str) -> bytes:
    size = int(CASES[case][1] * MB)
    if case.startswith("form"):
        return b"text=" + b"a" * (size - 5)
    if case.startswith("nested"):
        return b"payload=" + b"[" * (size - 8)
    return b"payload=[" + b"{}," * ((size - 12) // 3) + b"{}]"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def measure_one(case: str, subject: str) -> Result:
    """In this process: build the app, send one unsigned body, measure."""
    import logging

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from bot.serve.wsgi import EVENTS_PATH, wsgi_app
    from bot.tools.localbot import LocalBot
    from bot.tools.signing import sign
    from tests.support.bot_process import free_port

    logging.disable(logging.CRITICAL)
    tmp = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    config = tmp / "chatops.yml"
    config.write_text(
        f"deployments:\n  prod:\n    url: http://127.0.0.1:{free_port()}\n"
        "    token: ${PROD_TOKEN}\n"
    )
    env = {
        "CHATOPS_CONFIG": str(config),
        "PROD_TOKEN": "unused",
        "DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
    }
    local = LocalBot.start(env)
    try:
        app: Any = (
            SlackRequestHandler(local.bot.app, path=EVENTS_PATH)
            if subject == "before"
            else wsgi_app(local.bot)
        )
        body = body_of(case)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": EVENTS_PATH,
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in sign("not-the-secret", body).items():
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
        statuses: list[str] = []
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        rss_before = _status_kib("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            b"".join(app(environ, lambda status, headers, *exc: statuses.append(status)))
            status = statuses[0]
        except Exception as exc:  # what a WSGI server answers 500
            status = f"500 ({type(exc).__name__})"
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = (_status_kib("VmHWM") - rss_before) / 1024
    finally:
        local.close()
    return Result(case, subject, status, wall, cpu, peak)


def run_in_process_of_its_own(case: str, subject: str) -> Result:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))

    out = subprocess.run(
        [sys.executable, "-m", "bench.request_limits", "--one", case, subject],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap,
        check=False,
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return Result(case, subject, f"process died: {last[:80]}", float("nan"), 0.0, 0.0)
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


def report(results: list[Result], started: datetime, took: float) -> str:
    rows = [
        [
            f"{CASES[r.case][0]} {CASES[r.case][1]} MB",
            r.subject,
            r.status,
            f"{r.wall_s * 1000:.2f}",
            f"{r.cpu_s * 1000:.2f}",
            f"{r.peak_mib:.1f}",
        ]
        for r in results
    ]
    table = markdown_table(
        ["unsigned body", "subject", "answer", "wall ms", "CPU ms", "peak MiB over idle"],
        rows,
        numeric={3, 4, 5},
    )
    return "\n".join(
        [
            "# Refusing a large unsigned body: Bolt's WSGI adapter (before) and ours (after)",
            "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench.request_limits`"
            f" (the whole run took {took:.0f} s).",
            "",
            *host_info(),
            "- One WSGI call in process, in a fresh process per row (see the module's docstring);"
            " the body is already in memory as `wsgi.input` and not counted. *before*: "
            "`SlackRequestHandler` on the bot's Bolt app, as main served it; *after*: "
            "`bot.serve.wsgi.wsgi_app` with `MAX_REQUEST_BYTES` at its default, 1 MiB.",
            "- A 500 is what gunicorn answers when the application raises.",
            "",
            table,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_limits", description=__doc__)
    # The 45 MB case costs main's adapter about 20 s of CPU and 3.5 GiB (issue 13): opt in.
    parser.add_argument("--cases", default="form-20MB,json-20MB,nested-20MB,json-0.9MB")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SUBJECT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        result = measure_one(*args.one)
        print(json.dumps(result.__dict__))
        return 0
    started, clock = datetime.now(UTC), time.monotonic()
    results = []
    for case in args.cases.split(","):
        for subject in SUBJECTS:
            log(f"{case}, {subject}")
            results.append(run_in_process_of_its_own(case, subject))
            log(f"  {results[-1]}")
    text = report(results, started, time.monotonic() - clock)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "CRITICAL")
    sys.exit(main())
