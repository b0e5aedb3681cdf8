"""Install and run real Airflow 2 and Airflow 3 servers for integration tests.

Importable (``start(3)`` returns a running :class:`AirflowServer`) and runnable::

    python -m testkit.airflow_harness install 2|3|all
    python -m testkit.airflow_harness start 2|3 [--port P] [--scheduler] [--dags DIR]

Each Airflow version lives in its own venv under :func:`cache_dir` (Airflow's dependencies clash
with the bot's and with each other), pinned by ``testkit/airflow/constraints-<version>.txt``.
Every start gets a fresh ``AIRFLOW_HOME`` with its own SQLite database.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AIRFLOW_VERSIONS: dict[int, str] = {2: "2.11.2", 3: "3.3.2"}

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-pass"
VIEWER_USER = "viewer"
VIEWER_PASSWORD = "viewer-pass"

KIT_DIR = Path(__file__).resolve().parent
DAGS_FOLDER: Path = KIT_DIR / "dags"
CONSTRAINTS_DIR: Path = KIT_DIR / "airflow"

# Bump when the template database recipe changes, so cached templates are rebuilt.
_TEMPLATE_FORMAT = 1
_INSTALL_MARKER = ".chatops-installed"
_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.2

log = logging.getLogger(__name__)

# Health checks go to 127.0.0.1: a proxy configured in the environment must not intercept them.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cache_dir() -> Path:
    """Where the Airflow venvs live: ``$AIRFLOW_CHATOPS_CACHE`` or ``~/.cache/airflow-chatops``."""
    configured = os.environ.get("AIRFLOW_CHATOPS_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "airflow-chatops"


def _version(major: int) -> str:
    try:
        return AIRFLOW_VERSIONS[major]
    except KeyError:
        raise ValueError(
            f"unsupported Airflow major version {major!r}; "
            f"expected one of {sorted(AIRFLOW_VERSIONS)}"
        ) from None


def constraints_file(major: int) -> Path:
    return CONSTRAINTS_DIR / f"constraints-{_version(major)}.txt"


def _venv_python() -> str:
    # The constraints were resolved on CPython 3.11; AIRFLOW_CHATOPS_PYTHON lets a machine whose
    # default interpreter Airflow does not support point at another one.
    return os.environ.get("AIRFLOW_CHATOPS_PYTHON") or sys.executable


def _install_fingerprint(major: int) -> str:
    python = _venv_python()
    python_version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return json.dumps(
        {
            "airflow": _version(major),
            "constraints_sha256": hashlib.sha256(constraints_file(major).read_bytes()).hexdigest(),
            "python": python_version,
        },
        sort_keys=True,
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _run_logged(
    cmd: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float,
    what: str,
) -> None:
    with log_path.open("ab") as handle:
        handle.write(f"\n$ {' '.join(cmd)}\n".encode())
        handle.flush()
        try:
            result = subprocess.run(
                list(cmd),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"{what} timed out after {timeout:.0f}s; log {log_path}:\n{_tail(log_path, 40)}"
            ) from None
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}); log {log_path}:\n{_tail(log_path, 40)}"
        )


def _venv_dir(major: int) -> Path:
    return cache_dir() / f"airflow-{_version(major)}"


def _is_installed(venv: Path, fingerprint: str) -> bool:
    marker = venv / _INSTALL_MARKER
    try:
        return marker.read_text() == fingerprint and (venv / "bin" / "airflow").exists()
    except OSError:
        return False


def ensure_installed(major: int) -> Path:
    """Return the venv of Airflow ``major``, installing it first if needed.

    The marker file is written only after pip succeeded, so an interrupted install is redone;
    a file lock makes concurrent callers (pytest-xdist workers, two terminals) install once.
    """
    version = _version(major)
    venv = _venv_dir(major)
    fingerprint = _install_fingerprint(major)
    if _is_installed(venv, fingerprint):
        return venv
    root = cache_dir()
    with _file_lock(root / f"airflow-{version}.lock"):
        if _is_installed(venv, fingerprint):
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        log_path = root / f"airflow-{version}-install.log"
        log_path.write_text("")
        started = time.monotonic()
        _run_logged(
            [_venv_python(), "-m", "venv", str(venv)],
            log_path,
            timeout=300,
            what=f"creating the Airflow {version} venv",
        )
        # The pip bundled with the interpreter (23.x on 3.11) takes twice as long for this install.
        _run_logged(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
             "--no-input", "--progress-bar", "off", "--upgrade", "pip"],
            log_path,
            timeout=300,
            what=f"upgrading pip in the Airflow {version} venv",
        )  # fmt: skip
        _run_logged(
            [
                str(venv / "bin" / "python"), "-m", "pip", "install",
                "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                "-c", str(constraints_file(major)),
                f"apache-airflow=={version}",
            ],
            log_path,
            timeout=1800,
            what=f"pip install apache-airflow=={version}",
        )  # fmt: skip
        (venv / _INSTALL_MARKER).write_text(fingerprint)
        log.info("installed Airflow %s in %.1fs into %s", version, time.monotonic() - started, venv)
    return venv


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(port: int) -> None:
    # Airflow 2's gunicorn keeps retrying a taken port instead of exiting, which would
    # surface only as a ready_timeout much later.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do, so a port left in TIME_WAIT by a previous run still counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"cannot start Airflow on 127.0.0.1:{port}: {exc}") from None


def _base_env() -> dict[str, str]:
    # A developer's own AIRFLOW__* settings or PYTHONPATH must not leak into the test servers.
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in dropped
    }
    no_proxy = ",".join(
        part for part in (env.get("NO_PROXY") or env.get("no_proxy"), "127.0.0.1,localhost") if part
    )
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def _airflow_env(
    major: int, venv: Path, home: Path, dags_folder: Path, port: int
) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    env = _base_env()
    env.update(
        {
            # Executors spawn `airflow ...` by name, so the venv must come first on PATH.
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "2",
        }
    )
    if major == 2:
        env.update(
            {
                # Airflow appends the session backend (for its UI) anyway, with a FutureWarning
                # in every process's log unless it is listed here already.
                "AIRFLOW__API__AUTH_BACKENDS": (
                    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
                    "airflow.api.auth.backend.session"
                ),
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
                "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
                "AIRFLOW__WEBSERVER__BASE_URL": url,
                "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_urlsafe(32),
                # The template database already holds the synced roles; re-syncing them at every
                # webserver start costs time and races `dags reserialize`, which writes the
                # same permission tables in parallel.
                "AIRFLOW__FAB__UPDATE_FAB_PERMS": "False",
                # SQLite allows no LocalExecutor on Airflow 2.
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
                # gunicorn puts its control socket there; the default may not be writable.
                "XDG_RUNTIME_DIR": str(home / "run"),
            }
        )
    else:
        env.update(
            {
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
                    f"{ADMIN_USER}:admin,{VIEWER_USER}:viewer"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                    home / "simple_auth_manager_passwords.json"
                ),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API__WORKERS": "1",
                # The CLI flags bind the server; these keep the config (which SimpleAuthManager
                # checks before warning about a "production-like" host) consistent with them.
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": url,
                "AIRFLOW__API__EXPOSE_CONFIG": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                # A task supervisor notices its task process has exited only when its select()
                # times out, which is this interval (5 s by default): a floor on every task.
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            }
        )
    return env


def _prepare_home(major: int, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "harness-logs").mkdir(exist_ok=True)
    if major == 2:
        (home / "run").mkdir(mode=0o700, exist_ok=True)
    else:
        passwords = {ADMIN_USER: ADMIN_PASSWORD, VIEWER_USER: VIEWER_PASSWORD}
        (home / "simple_auth_manager_passwords.json").write_text(json.dumps(passwords))


def _template_db(major: int, venv: Path) -> Path:
    """A migrated database (with the Airflow 2 users) built once per venv and copied per start.

    ``db migrate`` plus ``sync-perm`` and two ``users create`` cost ~8 s on Airflow 2, most of it
    importing Airflow; doing that once keeps every later start to ``dags reserialize`` plus the
    server's own start-up.
    """
    version = _version(major)
    recipe = json.dumps(
        [_TEMPLATE_FORMAT, version, ADMIN_USER, ADMIN_PASSWORD, VIEWER_USER, VIEWER_PASSWORD]
    )
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    template = venv / f"chatops-template-{digest}.db"
    if template.exists():
        return template
    with _file_lock(cache_dir() / f"airflow-{version}.template.lock"):
        if template.exists():
            return template
        build_home = Path(tempfile.mkdtemp(prefix="template-home-", dir=venv))
        try:
            _prepare_home(major, build_home)
            env = _airflow_env(major, venv, build_home, DAGS_FOLDER, 8080)
            log_path = cache_dir() / f"airflow-{version}-template.log"
            log_path.write_text("")
            airflow = str(venv / "bin" / "airflow")
            steps: list[list[str]] = [[airflow, "db", "migrate"]]
            if major == 2:
                # Only Admin and Public exist until sync-perm creates the other FAB roles.
                steps.append([airflow, "sync-perm"])
                for user, password, role in (
                    (ADMIN_USER, ADMIN_PASSWORD, "Admin"),
                    (VIEWER_USER, VIEWER_PASSWORD, "Viewer"),
                ):
                    steps.append(
                        [
                            airflow, "users", "create", "--username", user,
                            "--password", password, "--role", role, "--firstname", user,
                            "--lastname", "Test", "--email", f"{user}@example.com",
                        ]
                    )  # fmt: skip
            for step in steps:
                _run_logged(
                    step,
                    log_path,
                    env=env,
                    timeout=300,
                    what=f"Airflow {version} `{' '.join(step[1:3])}`",
                )
            partial = template.with_suffix(".partial")
            shutil.copyfile(build_home / "airflow.db", partial)
            os.replace(partial, template)
        finally:
            shutil.rmtree(build_home, ignore_errors=True)
    return template


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def exit_code(self) -> int | None:
        """The exit status, without reaping the process before stop() does.

        An unreaped leader keeps its PID, and so its process-group id, from being reused: stop()
        can then signal the group without any risk of hitting someone else's processes.
        """
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


_LIVE_SERVERS: set[AirflowServer] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class AirflowServer:
    """A running Airflow (api-server or webserver, maybe a scheduler) started by :func:`start`."""

    major: int
    version: str
    url: str
    home: Path
    env: dict[str, str]
    _venv: Path = field(repr=False)
    _remove_home: bool = field(default=False, repr=False)
    _processes: list[_Process] = field(default_factory=list, init=False, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)
    _final_logs: str | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _spawn(self, name: str, *args: str) -> _Process:
        log_path = self.home / "harness-logs" / f"{name}.log"
        with log_path.open("ab") as handle:
            popen = subprocess.Popen(
                [str(self._venv / "bin" / "airflow"), *args],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                # Its own process group, so stop() also reaches gunicorn workers and task runners.
                start_new_session=True,
            )
        process = _Process(name, popen, log_path)
        self._processes.append(process)
        return process

    @property
    def dags_folder(self) -> Path:
        return Path(self.env["AIRFLOW__CORE__DAGS_FOLDER"])

    @property
    def parses_dag_files(self) -> bool:
        """Whether a process of this server parses the DAG files as they change (Airflow 2's
        scheduler, Airflow 3's dag-processor). Without one (the session servers), the files
        were parsed once at start (``dags reserialize``; only Airflow 3's records its import
        errors), and a file changed later is never noticed."""
        parser = "scheduler" if self.major == 2 else "dag-processor"
        return any(p.name == parser and p.exit_code() is None for p in self._processes)

    def import_errors(self) -> list[dict[str, Any]]:
        """What the REST API's ``importErrors`` lists now (the first 100)."""
        from testkit.airflow_probe import AirflowProbe  # it imports this module

        body = AirflowProbe(self).get("/importErrors", limit=100)
        return list(body.get("import_errors") or [])

    def break_dag_file(
        self, name: str, *, message: str = "broken on purpose by a test", timeout: float = 120
    ) -> dict[str, Any]:
        """Write ``name`` (e.g. ``broken_mine.py``, a name no other test reads) into the DAGs
        folder as a file that raises ``RuntimeError(message)`` on import, and wait until
        ``importErrors`` lists it; returns that entry (v1 names the file by its full path,
        v2 relative to its bundle, with ``bundle_name``). Pair it with ``fix_dag_file``, or
        use ``broken_dag_file``."""
        if not self.parses_dag_files:
            raise RuntimeError(
                f"Airflow {self.version} at {self.url} runs no DAG file parser (start it with "
                "scheduler=True): it would never notice the file"
            )
        path = self.dags_folder / name
        # Airflow's safe mode parses only files that mention both "airflow" and "dag".
        path.write_text(
            f"from airflow import DAG  # noqa: F401\n\nraise RuntimeError({message!r})\n"
        )
        return self._wait_import_error(name, present=True, timeout=timeout) or {}

    def fix_dag_file(self, name: str, *, timeout: float = 120) -> None:
        """Make ``name`` import cleanly (defining no DAG), wait until ``importErrors`` no
        longer lists it, and remove it."""
        path = self.dags_folder / name
        try:
            path.write_text("# airflow dag file fixed by a test: it defines no DAG\n")
            self._wait_import_error(name, present=False, timeout=timeout)
        finally:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def broken_dag_file(
        self, name: str, *, message: str = "broken on purpose by a test", timeout: float = 120
    ) -> Iterator[dict[str, Any]]:
        """``break_dag_file`` for the ``with`` block (its entry as the target), then
        ``fix_dag_file``; the file is removed whatever happens."""
        try:
            yield self.break_dag_file(name, message=message, timeout=timeout)
        finally:
            self.fix_dag_file(name, timeout=timeout)

    def _wait_import_error(
        self, name: str, *, present: bool, timeout: float
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e
                for e in self.import_errors()
                if str(e.get("filename")) in (name, str(self.dags_folder / name))
            ]
            if bool(found) == present:
                return found[0] if found else None
            if time.monotonic() >= deadline:
                state = "still lists" if found else "does not list"
                raise RuntimeError(
                    f"Airflow {self.version}: importErrors {state} {name} after {timeout:.0f}s"
                )
            time.sleep(1)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this server's home and database; does not raise.

        Both versions log to stdout ahead of a command's own output: with ``-o json`` the JSON
        is the last line.
        """
        return subprocess.run(
            [str(self._venv / "bin" / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self, lines: int = 60) -> str:
        """The last ``lines`` lines of each process's log, for failure messages."""
        if self._final_logs is not None:
            return self._final_logs
        parts = []
        for process in self._processes:
            code = process.exit_code()
            state = "running" if code is None else f"exited {code}"
            parts.append(
                f"----- {process.name} (pid {process.popen.pid}, {state}) {process.log_path}\n"
                f"{_tail(process.log_path, lines)}"
            )
        return "\n".join(parts) if parts else "<no processes were started>"

    def is_running(self) -> bool:
        """True while every long-running process it started is alive."""
        return not self._stopped and all(
            p.exit_code() is None for p in self._processes if p.name != "reserialize"
        )

    def stop(self) -> None:
        """Stop every process group it started: SIGTERM, then SIGKILL after a grace period."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            try:
                self._terminate_all()
            finally:
                with _LIVE_LOCK:
                    _LIVE_SERVERS.discard(self)
                if self._remove_home and not os.environ.get("AIRFLOW_CHATOPS_KEEP_HOME"):
                    self._final_logs = self.logs()
                    shutil.rmtree(self.home, ignore_errors=True)

    def _terminate_all(self) -> None:
        # Each child leads a process group whose id is its PID; signalling the group reaches
        # the grandchildren (gunicorn workers, task runners) that outlive a killed leader.
        # No leader has been reaped yet (see _Process.exit_code), so no group id was reused.
        alive = [p.popen.pid for p in self._processes if p.popen.returncode is None]
        for pgid in reversed(alive):
            _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [pgid for pgid in alive if _group_alive(pgid)]
        for pgid in alive:
            log.warning("process group %d ignored SIGTERM for %ss; killing it", pgid,
                        _STOP_GRACE_SECONDS)  # fmt: skip
            _signal_group(pgid, signal.SIGKILL)
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)

    # Wait helpers used by start().

    def _health_url(self) -> str:
        return f"{self.url}/health" if self.major == 2 else f"{self.url}/api/v2/monitor/health"

    def _health(self) -> dict[str, Any] | None:
        try:
            with _OPENER.open(self._health_url(), timeout=2) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def _wait_until(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        while True:
            for process in self._processes:
                code = process.exit_code()
                if code is None or (process.name == "reserialize" and code == 0):
                    continue
                raise RuntimeError(
                    f"Airflow {self.version}: {process.name} exited with code {code} while "
                    f"waiting for {what}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Airflow {self.version}: timed out waiting for {what}")
            time.sleep(_POLL_SECONDS)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    # killpg(pgid, 0) also succeeds while the only member left is the zombie leader, which
    # stop() reaps only after this says the rest of its group is gone.
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _component_healthy(health: dict[str, Any] | None, component: str) -> bool:
    if health is None:
        return False
    status = health.get(component)
    return isinstance(status, dict) and status.get("status") == "healthy"


def start(
    major: int,
    *,
    dags_folder: Path = DAGS_FOLDER,
    scheduler: bool = False,
    port: int | None = None,
    home: Path | None = None,
    ready_timeout: float = 120,
) -> AirflowServer:
    """Start Airflow ``major`` on 127.0.0.1 and return once its API answers.

    With ``scheduler=True`` it also waits until the scheduler (and on Airflow 3 the DAG
    processor) report healthy, so triggered runs of unpaused DAGs actually execute.
    """
    version = _version(major)
    venv = ensure_installed(major)
    template = _template_db(major, venv)
    started = time.monotonic()
    if port is None:
        port = _free_port()
    else:
        _check_port_free(port)
    created_home = home is None
    home = Path(tempfile.mkdtemp(prefix=f"airflow{major}-")) if home is None else home.resolve()
    _prepare_home(major, home)
    url = f"http://127.0.0.1:{port}"
    env = _airflow_env(major, venv, home, Path(dags_folder).resolve(), port)
    shutil.copyfile(template, home / "airflow.db")
    server = AirflowServer(major, version, url, home, env, venv, created_home)
    with _LIVE_LOCK:
        _LIVE_SERVERS.add(server)
    deadline = started + ready_timeout
    try:
        # The webserver/api-server only reads DAGs from the database, so serialise them in
        # parallel with its start-up instead of before it.
        reserialize = server._spawn("reserialize", "dags", "reserialize")
        if major == 2:
            server._spawn("webserver", "webserver", "--hostname", "127.0.0.1", "--port", str(port))
        else:
            server._spawn(
                "api-server", "api-server", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1",
            )  # fmt: skip
        server._wait_until(
            f"{server._health_url()} and the DAG serialisation",
            deadline,
            lambda: (
                reserialize.exit_code() == 0
                and _component_healthy(server._health(), "metadatabase")
            ),
        )
        if scheduler:
            server._spawn("scheduler", "scheduler")
            components = ["scheduler"]
            if major == 3:
                server._spawn("dag-processor", "dag-processor")
                components.append("dag_processor")
            server._wait_until(
                " and ".join(components) + " heartbeat",
                deadline,
                lambda: all(_component_healthy(server._health(), c) for c in components),
            )
    except BaseException as exc:
        # Logs first: stop() may delete the home they live in.
        logs = server.logs()
        # Keep the home of a failed start for a post-mortem; an interrupted one is just litter.
        server._remove_home = created_home and not isinstance(exc, RuntimeError)
        server.stop()
        if isinstance(exc, RuntimeError):
            raise RuntimeError(
                f"{exc} (ready_timeout={ready_timeout}s, home {home})\n{logs}"
            ) from None
        raise
    log.info("Airflow %s ready at %s in %.1fs", version, url, time.monotonic() - started)
    return server


def _stop_live_servers() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE_SERVERS)
    for server in servers:
        server.stop()


# Safety net: a crashed or interrupted caller must not leave Airflow processes behind.
atexit.register(_stop_live_servers)


def _majors(choice: str) -> list[int]:
    return sorted(AIRFLOW_VERSIONS) if choice == "all" else [int(choice)]


def _print_server(server: AirflowServer, seconds: float) -> None:
    print(
        f"Airflow {server.version} is ready at {server.url} (started in {seconds:.1f}s)\n"
        f"  admin (operator rights): {ADMIN_USER} / {ADMIN_PASSWORD}\n"
        f"  viewer (read-only):      {VIEWER_USER} / {VIEWER_PASSWORD}\n"
        f"  AIRFLOW_HOME:            {server.home}\n"
        f"  process logs:            {server.home / 'harness-logs'}\n"
        "\n"
        "Bot configuration:\n"
        "\n"
        "deployments:\n"
        "  local:\n"
        f"    url: {server.url}\n"
        f"    username: {ADMIN_USER}\n"
        "    password: ${AIRFLOW_LOCAL_PASSWORD}\n"
        "\n"
        f"export AIRFLOW_LOCAL_PASSWORD={ADMIN_PASSWORD}\n"
        "\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.airflow_harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install Airflow into the cache")
    install.add_argument("major", choices=["2", "3", "all"])
    run = commands.add_parser("start", help="start a server and wait for Ctrl-C / SIGTERM")
    run.add_argument("major", choices=["2", "3"])
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--scheduler", action="store_true", help="also run the scheduler")
    run.add_argument("--dags", type=Path, default=DAGS_FOLDER, help="DAGs folder")
    args = parser.parse_args(argv)
    # start() logs its timing too, which would repeat the first line of the printed summary.
    level = logging.INFO if args.command == "install" else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s")

    if args.command == "install":
        for major in _majors(args.major):
            began = time.monotonic()
            venv = ensure_installed(major)
            print(f"Airflow {_version(major)}: {venv} ({time.monotonic() - began:.1f}s)")
        return 0

    def raise_interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM takes the same clean path as Ctrl-C, also while the server is still starting.
    # SIGINT is set explicitly because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    began = time.monotonic()
    try:
        server = start(
            int(args.major), dags_folder=args.dags, scheduler=args.scheduler, port=args.port
        )
        try:
            _print_server(server, time.monotonic() - began)
            while server.is_running():
                time.sleep(1)
            print(f"An Airflow process exited unexpectedly:\n{server.logs()}", file=sys.stderr)
            return 1
        finally:
            # A second Ctrl-C must not interrupt the clean-up half way.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("Stopping Airflow...", flush=True)
            server.stop()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
