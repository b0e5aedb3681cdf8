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

Each process is capped at 6 GiB of address space.

Then the same refusal over a real socket (``--served``, on by default): the Procfile's ``web``
line (gunicorn, one process), sent 21 MB and 100 MB unsigned bodies by Python's urllib, which
sends the whole body before reading the answer (as Heroku's router does), and by a raw socket
that reads while it sends: what each client got, how long it took, and the gunicorn worker's
resident memory before and after, with its peak (``VmHWM``, reset just before each request).
Writes ``bench/results/request_limits.md``.
"""

from __future__ import annotations

import argparse
import contextlib
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
    from testkit.bot_process import free_port

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


SERVED_SIZES_MB = (21, 100)


@dataclass(frozen=True)
class Served:
    size_mb: int
    client: str
    answer: str
    answer_ms: float  # from the first byte sent to the answer's status line
    rss_before_mib: float
    rss_after_mib: float
    peak_over_mib: float


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _unsigned_headers(size: int) -> bytes:
    return (
        "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {size}\r\nX-Slack-Request-Timestamp: {int(time.time())}\r\n"
        f"X-Slack-Signature: v0={'0' * 64}\r\n\r\n"
    ).encode()


def _with_urllib(url: str, body: bytes) -> tuple[str, float]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{url}/slack/events",
        data=body,
        headers=dict(
            line.split(": ", 1)
            for line in _unsigned_headers(len(body)).decode().split("\r\n")[2:]
            if ": " in line and not line.startswith("Content-Length")
        ),
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status = str(answer.status)
    except urllib.error.HTTPError as exc:
        status = f"{exc.code}, Connection: {exc.headers.get('Connection')}"
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        status = f"no answer: {type(reason).__name__}"
    return status, (time.perf_counter() - started) * 1000


def _reading_while_sending(port: int, body: bytes) -> tuple[str, float]:
    import socket
    import threading

    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    started = time.perf_counter()
    sock.sendall(_unsigned_headers(len(body)))

    def send() -> None:
        # Cut off past the bound: the answer was read already.
        with contextlib.suppress(OSError):
            sock.sendall(body)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    first = sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
    took = (time.perf_counter() - started) * 1000
    sender.join(30)
    sock.close()
    return first.removeprefix("HTTP/1.1 ") or "no answer", took


def measure_served() -> list[Served]:
    from bot.tools.localslack import SlackStandin
    from testkit.bot_process import BotProcess, free_port
    from testkit.raw_requests import CONFIG

    results: list[Served] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-served-") as tmp,
        SlackStandin() as slack,
        BotProcess(
            workdir=Path(tmp),
            config=CONFIG.format(port=free_port()),
            slack_api_url=slack.api_url,
            env={"PROD_TOKEN": "unused", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"},
        ) as bot,
    ):
        (worker,) = bot.worker_pids()
        for size_mb in SERVED_SIZES_MB:
            body = b"text=" + b"a" * (size_mb * MB - 5)
            for client in ("urllib", "reads while sending"):
                Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM := VmRSS
                before = _proc_kib(worker, "VmRSS")
                if client == "urllib":
                    answer, took = _with_urllib(bot.url, body)
                else:
                    answer, took = _reading_while_sending(bot.port, body)
                time.sleep(0.2)  # the discarding may still be running after the answer
                results.append(
                    Served(
                        size_mb,
                        client,
                        answer,
                        took,
                        before / 1024,
                        _proc_kib(worker, "VmRSS") / 1024,
                        (_proc_kib(worker, "VmHWM") - before) / 1024,
                    )
                )
                log(f"  {results[-1]}")
    return results


def served_report(results: list[Served]) -> list[str]:
    rows = [
        [
            f"{r.size_mb} MB",
            r.client,
            r.answer,
            f"{r.answer_ms:.1f}",
            f"{r.rss_before_mib:.1f}",
            f"{r.rss_after_mib:.1f}",
            f"{r.peak_over_mib:.1f}",
        ]
        for r in results
    ]
    return [
        "## Over a real socket: the `web` process (gunicorn, one process)",
        "",
        "- An unsigned `text=aaaa...` body above `MAX_REQUEST_BYTES`: answered 413 before it "
        "is read, then read and thrown away up to 64 MiB or 5 s (bot/serve/request_limits.py). "
        "*urllib* sends the whole body before it reads (as Heroku's router does), so its time "
        "includes the upload; *reads while sending* reads the answer as soon as it comes.",
        "- Past 64 MiB the socket is closed under a client still sending: 100 MB by urllib "
        "gets no answer, as every body did before (main closed at once).",
        "",
        markdown_table(
            [
                "body",
                "client",
                "answer",
                "ms to the answer",
                "worker RSS before MiB",
                "after MiB",
                "peak over before MiB",
            ],
            rows,
            numeric={3, 4, 5, 6},
        ),
        "",
    ]


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
            "- *after* includes reading and throwing away, 64 KiB at a time, what a refused body "
            "still has after the answer went out (so that a client sending it all before reading "
            "gets the answer): that is the wall time; its peak memory stays nil.",
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
    parser.add_argument(
        "--no-served", action="store_true", help="skip the measurement over a real socket"
    )
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
    served = [] if args.no_served else measure_served()
    text = report(results, started, time.monotonic() - clock)
    if served:
        text += "\n" + "\n".join(served_report(served))
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "CRITICAL")
    sys.exit(main())
