"""The users' side of the ack benchmarks: slash commands sent at once, as Slack sends them, and
their answers read back from the Slack stand-in."""

from __future__ import annotations

import http.client
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.ack_subjects import USER, Subject
from bot.tools.localslack import Call, SlackStandin
from bot.tools.signing import sign, slash_command_body
from testkit.bot_process import SIGNING_SECRET
from testkit.conversation import visible_text

SLACK_ACK_LIMIT = 3.0
"""Slack shows the user an error when a slash command is not acknowledged within 3 s."""
PROBES = 20
PROBE_INTERVAL = 0.1
"""After a burst of 50 or more has been acknowledged, while its commands wait for Airflow, one
more command every 100 ms: how fast is a command acknowledged with that many in flight?"""
WARM_UP_TIMEOUT = 60.0
WARM_UP_ROUNDS = 10
COMMAND_TEXT = "list"
ANSWER_MARKER = "etl_daily"
"""A DAG of testkit/dags that any answer listing the DAGs names."""
WIDE_DAGS = [f"wide_{n:02d}" for n in range(50)]
"""The 50 DAGs the spread scenario asks about (bench.ack_latency adds them to Airflow; their ids
sort after the test DAGs', so an unfiltered list still shows etl_daily)."""


@dataclass
class Command:
    index: int
    channel: str
    response_url: str
    text: str = COMMAND_TEXT
    marker: str = ANSWER_MARKER
    """What its answer must show to count as answered (a DAG id)."""
    sent_at: float = 0.0
    status: int | None = None
    """HTTP status of the ack; None when no answer came (connection error or timeout)."""
    ack_seconds: float = math.inf
    ack_body: str = ""
    answer: Call | None = None


def new_commands(
    slack: SlackStandin, count: int, prefix: str, texts: Sequence[tuple[str, str]] = ()
) -> list[Command]:
    """``count`` commands, each in a channel of its own; ``texts``: (text, marker) of each,
    default ``/airflow list`` answered with ``etl_daily``."""
    texts = texts or [(COMMAND_TEXT, ANSWER_MARKER)] * count
    return [
        Command(
            index=i,
            channel=f"C0{prefix}{i:04d}",
            response_url=slack.new_response_url(),
            text=texts[i][0],
            marker=texts[i][1],
        )
        for i in range(count)
    ]


def spread_texts(count: int) -> list[tuple[str, str]]:
    """``status <dag>`` and ``list <dag>`` over the WIDE_DAGS: in each round of 50 commands one
    verb for every DAG, the verbs alternating by round (500: each of the 100 asked 5 times)."""
    texts = []
    for i in range(count):
        dag = WIDE_DAGS[i % len(WIDE_DAGS)]
        verb = "status" if (i // len(WIDE_DAGS)) % 2 == 0 else "list"
        texts.append((f"{verb} {dag}", dag))
    return texts


def fire(url: str, commands: Sequence[Command], *, timeout: float) -> None:
    """Send every command at once, each from its own thread on its own connection, as Slack does.

    Bodies are built and signed before the start; each thread's clock runs from just before it
    connects to when the response's body is read.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies = [
        slash_command_body(
            text=c.text, user_id=USER, channel_id=c.channel, response_url=c.response_url
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
    return command.answer is not None and command.marker in visible_text(command.answer.params)


def warm_up(
    subject: Subject,
    slack: SlackStandin,
    *,
    answers: bool = True,
    warmed: Callable[[], bool] | None = None,
) -> None:
    """A command, answered, before the burst: JWT fetched, API version known, pools open.

    ``warmed``: with several worker processes, whether every one of them has made its first
    calls (its own JWT fetched); until then, rounds of 4 commands at once, each asking about
    another DAG, so that a process cannot merely join a read another one leads (which process
    gets a connection is the kernel's choice). ``answers``: False for a subject that only acks
    (the floor)."""
    for attempt in range(WARM_UP_ROUNDS):
        if warmed is None:
            commands = new_commands(slack, 1, f"WARM{attempt}")
        else:
            dags = [WIDE_DAGS[(attempt * 4 + i) % len(WIDE_DAGS)] for i in range(4)]
            commands = new_commands(slack, 4, f"WARM{attempt}", [(f"status {d}", d) for d in dags])
        fire(subject.url, commands, timeout=WARM_UP_TIMEOUT)
        if answers:
            wait_for_answers(slack, commands, time.monotonic() + WARM_UP_TIMEOUT)
        for command in commands:
            if command.status != 200 or (answers and not answered_ok(command)):
                raise RuntimeError(
                    f"a warm-up command was not answered (ack {command.status} "
                    f"{command.ack_body!r}, answer {command.answer}):\n{subject.logs()}"
                )
        if warmed is None or warmed():
            return
    raise RuntimeError(f"a worker process made no Airflow call in {WARM_UP_ROUNDS} rounds")
