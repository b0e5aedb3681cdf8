"""Runs the bot exactly as a host runs it: the Procfile's ``web`` line, in its own process.

Tests talk to it over HTTP with signed requests, like Slack, and read what it sent to the
Slack stand-in; nothing of the bot is imported or patched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bot.tools.signing import post_signed, slash_command_body

ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "e2e-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"


def procfile_command(process: str = "web") -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise LookupError(f"no {process!r} process in the Procfile")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    def __init__(
        self,
        *,
        workdir: Path,
        config: str,
        slack_api_url: str,
        env: dict[str, str] | None = None,
        process: str = "web",
        command: list[str] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """``command`` runs instead of the Procfile line; ``ready`` replaces the /healthz check."""
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "chatops.yml").write_text(config)
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(workdir)),
            "PORT": str(self.port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_api_url,
            "CHATOPS_CONFIG": str(workdir / "chatops.yml"),
            "DATABASE_URL": f"sqlite:///{workdir / 'chatops.db'}",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.log_path = workdir / f"bot-{self.port}.log"
        self._command = command
        self._process_name = process
        self._ready = ready or self._healthy
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_timeout: float = 30) -> BotProcess:
        if self._popen is not None and self._popen.poll() is None:
            return self  # already running (``with bot.start():`` must not start a second one)
        with self.log_path.open("ab") as log:
            if self._command is not None:
                args: Any = self._command
                shell = False
            else:
                args = procfile_command(self._process_name)
                shell = True  # Procfile lines are shell lines ($PORT and all)
            self._popen = subprocess.Popen(
                args,
                shell=shell,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                raise RuntimeError(f"the bot exited with {self._popen.returncode}:\n{self.logs()}")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the bot was not ready in {ready_timeout} s:\n{self.logs()}")

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def wait_exit(self, timeout: float = 30) -> int:
        assert self._popen is not None
        return self._popen.wait(timeout)

    def stop(self) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        try:
            os.killpg(self._popen.pid, signal.SIGTERM)
            self._popen.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(5)
        except ProcessLookupError:
            pass

    def signal_all(self, signum: int) -> None:
        """``signum`` to every process of the bot at once, as Heroku signals a dyno's."""
        if self._popen is not None and self._popen.poll() is None:
            os.killpg(self._popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the bot and all its processes, as a crashed or evicted dyno dies."""
        if self._popen is not None and self._popen.poll() is None:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(10)

    def worker_pids(self) -> set[int]:
        """gunicorn's worker processes now: the children of its master (which the process
        started is, or whose parent it is: a shell running the Procfile line)."""
        if self._popen is None:
            return set()
        parents = _parents()
        tree, frontier = set(), {self._popen.pid}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier}
            tree |= frontier
        masters = {self._popen.pid} | {parents[pid] for pid in tree if parents.get(pid) in tree}
        return {pid for pid in tree if parents.get(pid) in masters} - masters

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        response_url: str = "http://127.0.0.1:9/unused",
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
    ) -> tuple[int, str]:
        body = slash_command_body(
            text=text, user_id=user_id, channel_id=channel_id, response_url=response_url
        )
        return post_signed(f"{self.url}/slack/events", body, secret, timestamp=timestamp)

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parents() -> dict[int, int]:
    """Every process's parent, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents
