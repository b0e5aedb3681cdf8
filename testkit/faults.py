"""The fault suite's cases and their runner: what the bot owes users (answers to commands,
alerts of failed runs) through Slack's outages and rate limits, lost answers, deploys, crashes, a
database restart and an Airflow outage. Each case counts commands sent, acknowledged, answered,
lost and duplicated, and alerts owed, delivered, lost and duplicated (a :class:`Tally`).

The bot runs as a host runs it (the Procfile's web line, testkit/bot_process.py) on a real
PostgreSQL, against the Slack stand-in (bot/tools/localslack, its faults) and a scripted Airflow
(testkit/flow.py: 50 DAGs, answering in 0.1 s unless a case says otherwise). A command's answer
is its threaded reply under its parent, or a message to its response_url; an alert is the post
of a failed run in the subscribed channel (the message of its DAG's incident, or a reply in that
message's thread). ``scale`` shrinks the outages and windows.

Two run them: the benchmark (``python -m bench.faults``, bench/faults.py, at full scale) and the
tests (tests/e2e/test_outbox_faults_e2e.py, at 0.1), each through :func:`world` or fixtures of
its own and :func:`run`.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.slack.delivery import EVENT_TYPE
from bot.slack.identity import STARTING_UP
from bot.store import Store
from bot.tools.localslack import SlackStandin
from testkit.bot_process import BotProcess
from testkit.flow import TOKEN, ScriptedAirflow, deployment
from testkit.postgres_server import PostgresServer, _bin_dir
from testkit.scripted_tasks import ScriptedTask

USER, CHANNEL, ALERTS = "U0ALICE", "C0OPS", "C0ALERTS"
DAGS = [f"d{n:02d}" for n in range(50)]


@dataclass
class Tally:
    case: str
    sent: int = 0
    acked: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    owed: int = 0
    delivered: int = 0
    posts_lost: int = 0
    posts_duplicated: int = 0
    twice: int = 0  # any post of the bot's (parent, reply, alert) Slack holds twice
    handed_over: int = 0  # requests a stopping process handed to the next (its log says)
    seconds: float = 0.0  # from the fault's start to the last answer or alert

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.duplicated or self.posts_lost or self.posts_duplicated or self.twice
        )


@dataclass
class Sent:
    dag_id: str
    response_url: str
    status: int
    ack: str = ""  # the ack's body: "starting up" is an answer, and nothing more is owed
    verb: str = "status"


class Rig:
    """One case's world: Slack, Airflow, a fresh store, and the bot processes started on it."""

    def __init__(self, slack: SlackStandin, pg: PostgresServer, workdir: Path) -> None:
        self.slack = slack
        self.pg = pg
        self.workdir = workdir
        self.airflow = ScriptedAirflow()
        self.db_url = pg.new_database()
        self.bots: list[BotProcess] = []
        self.alerts: list[str] = []  # run ids of failed runs, each owed one post

    def __enter__(self) -> Rig:
        self.airflow.__enter__()
        self.airflow.delay = 0.1
        for dag in DAGS:
            self.airflow.add_dag(dag)
        for n in range(10):
            self.airflow.add_dag(f"alert_{n}")
        # A run that ended before the bot started: the watch starts after it.
        self.airflow.add_past_run("alert_0", "scheduled__before", state="success")
        self.slack.reset()
        return self

    def __exit__(self, *exc: object) -> None:
        for bot in self.bots:
            bot.kill()
        self.airflow.__exit__(*exc)

    def start_bot(self, **env: str) -> BotProcess:
        config = f"""deployments:
  prod: {deployment(self.airflow)}
grants:
  - {{role: operator, users: [{USER}]}}
subscriptions:
  - {{channel: {ALERTS}, deployment: prod, dags: ["alert_*"], events: [failed]}}
"""
        workdir = Path(tempfile.mkdtemp(prefix="faults-", dir=self.workdir))
        env = {"DATABASE_URL": self.db_url, "SCRIPTED_TOKEN": TOKEN, "WEB_CONCURRENCY": "1",
               "WATCH_INTERVAL_SECONDS": "2", "LOG_LEVEL": "INFO", **env}  # fmt: skip
        bot = BotProcess(workdir=workdir, config=config, slack_api_url=self.slack.api_url, env=env)
        self.bots.append(bot.start(ready_timeout=60))
        self._until_watching()
        return bot

    def _until_watching(self, timeout: float = 30) -> None:
        """Until the watch has read how far Airflow's runs go (its first round): the runs
        that end after that are the ones it owes alerts for."""
        store = Store(self.db_url)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                state = store.watch_state("prod")
                if state is not None and state.watermark is not None:
                    return
                time.sleep(0.2)
            raise RuntimeError("the bot did not start watching Airflow")
        finally:
            store.close()

    def command(self, bot: BotProcess, dag_id: str, verb: str = "status") -> Sent:
        url = self.slack.new_response_url(channel=CHANNEL)
        try:
            status, ack = bot.slash(f"{verb} prod {dag_id}", user_id=USER, channel_id=CHANNEL,
                                    response_url=url)  # fmt: skip
        except OSError:
            status, ack = 0, ""  # the process is gone: Slack would show the user an error
        return Sent(dag_id, url, status, ack, verb)

    def burst(self, bot: BotProcess, dags: Sequence[str], verb: str = "status") -> list[Sent]:
        with ThreadPoolExecutor(max_workers=len(dags)) as pool:
            return list(pool.map(lambda d: self.command(bot, d, verb), dags))

    def spread(
        self, bot: BotProcess, seconds: float, *, commands: int, fail_every: int
    ) -> list[Sent]:
        """``commands`` commands evenly over ``seconds``, and a run failing every
        ``fail_every``-th of them."""
        sent = []
        for i in range(commands):
            sent.append(self.command(bot, DAGS[i]))
            if i % fail_every == 0:
                self.fail_run(i)
            time.sleep(seconds / commands)
        return sent

    def fail_run(self, n: int) -> None:
        run_id = f"scheduled__{uuid.uuid4().hex[:8]}"
        failed = [ScriptedTask("extract", "failed", log=["boom"])]
        self.airflow.add_past_run(f"alert_{n % 10}", run_id, tasks=failed)
        self.alerts.append(run_id)

    # -- counting -----------------------------------------------------------------------------

    def answers(self, sent: Sent) -> int:
        """How many answers the user got: threaded replies under the command's parent(s),
        and messages to its response_url that are not just the busy or error ack."""
        said = self.slack.messages
        typed = f"/airflow {sent.verb} prod {sent.dag_id}`"
        parents = [m for m in said.get(CHANNEL, []) if "thread_ts" not in m and typed in m["text"]]
        replies = [
            m for p in parents for m in said.get(CHANNEL, []) if m.get("thread_ts") == p["ts"]
        ]
        told = sent.ack.strip() == STARTING_UP  # shown to the one who typed it
        return len(replies) + self.slack.response_url_uses(sent.response_url) + told

    def alert_posts(self, run_id: str) -> int:
        """The alerts of ``run_id``: the message that opened its DAG's incident, or the reply
        in that incident's thread. Each names its own run in its first block (the message's
        count line, under it, names the newest run of the incident too)."""
        return sum(
            1 for m in self.slack.messages.get(ALERTS, [])
            if m.get("blocks") and run_id in str(m["blocks"][0])
        )  # fmt: skip

    def settled(self, sent: Sequence[Sent]) -> bool:
        return all(self.answers(s) for s in sent if s.status == 200) and all(
            self.alert_posts(r) for r in self.alerts
        )

    def tally(self, case: str, sent: Sequence[Sent], started: float, timeout: float) -> Tally:
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline and not self.settled(sent):
            time.sleep(0.5)
            last = time.monotonic()
        time.sleep(3)  # anything sent twice arrives in this time too
        t = Tally(case, sent=len(sent), acked=sum(s.status == 200 for s in sent))
        for s in sent:
            n = self.answers(s)
            t.answered += n > 0
            t.lost += n == 0 and s.status == 200
            t.duplicated += max(0, n - 1)
        t.owed = len(self.alerts)
        for run_id in self.alerts:
            n = self.alert_posts(run_id)
            t.delivered += n > 0
            t.posts_lost += n == 0
            t.posts_duplicated += max(0, n - 1)
        counts = self.slack.event_counts(EVENT_TYPE, "id")
        t.twice = sum(c - 1 for c in counts.values() if c > 1)
        t.seconds = last - started
        for bot in self.bots:
            for line in bot.log_path.read_text(errors="replace").splitlines():
                if "acknowledged requests over to the next process" in line:
                    t.handed_over += int(line.split("handed ")[1].split()[0])
        return t


# -- the cases ------------------------------------------------------------------------------


def slack_down(rig: Rig, scale: float) -> Tally:
    """Slack's Web API (and response URLs) answer 503 for 2 minutes while commands come and
    runs fail."""
    bot = rig.start_bot()
    outage = 120 * scale
    started = time.monotonic()
    rig.slack.outage(outage)
    sent = rig.spread(bot, outage * 0.8, commands=20, fail_every=2)
    return rig.tally("Slack's Web API down (503)", sent, started, timeout=outage + 120)


def slack_down_at_start(rig: Rig, scale: float) -> Tally:
    """Slack's Web API answers 503 while the bot starts: first a first-ever start (no identity
    known: commands are told "starting up"), then, once Slack was back and the process
    stopped, a restart into a second outage (the identity kept from the first: commands are
    acknowledged and answered once Slack is back). Runs fail meanwhile."""
    outage = max(60 * scale, 15)  # long enough to cover the start itself at the tests' scale
    started = time.monotonic()
    rig.slack.outage(outage)
    bot = rig.start_bot()
    # DAGs the restart's commands do not name: each command's answers are counted by its DAG.
    sent = [rig.command(bot, dag) for dag in DAGS[-5:]]
    rig.fail_run(0)
    rig.slack.end_outage()
    _until_logged(bot, "Slack answered auth.test")
    bot.stop()
    rig.slack.outage(outage)
    bot = rig.start_bot()
    sent += rig.spread(bot, outage * 0.5, commands=20, fail_every=2)
    return rig.tally("Slack down at start-up", sent, started, timeout=outage + 120)


def _until_logged(bot: BotProcess, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.log_path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bot never logged {text!r}:\n{bot.logs()}")
        time.sleep(0.2)


def rate_limited(rig: Rig, scale: float) -> Tally:
    """One Web API call in three answered 429 with Retry-After for a minute."""
    bot = rig.start_bot()
    window = 60 * scale
    started = time.monotonic()
    rig.slack.rate_limit_every(3, window, retry_after=1)
    sent = rig.spread(bot, window * 0.8, commands=50, fail_every=5)
    return rig.tally("429 to one call in three", sent, started, timeout=window + 120)


def lost_answers(rig: Rig, scale: float) -> Tally:
    """Posts Slack accepts whose answer never arrives: the connection drops, or the answer
    comes after the bot's 10 s timeout."""
    bot = rig.start_bot()
    started = time.monotonic()
    rig.slack.accept_then_drop_next("chat.postMessage", times=5)
    rig.slack.accept_then_hang_next("chat.postMessage", seconds=12, times=3)
    sent = [rig.command(bot, d) for d in DAGS[:20]]
    return rig.tally("posts accepted, answers lost", sent, started, timeout=120)


def _stopped_mid_burst(
    rig: Rig,
    how: str,
    name: str,
    *,
    restart_env: dict[str, str] | None = None,
    timeout: float | None = None,
    **env: str,
) -> Tally:
    bot = rig.start_bot(**env)
    rig.airflow.delay = 2.0
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        burst = pool.submit(rig.burst, bot, DAGS)
        time.sleep(1.5)
        if how == "sigterm":
            bot.stop()  # SIGTERM to the process group, as Heroku does; SIGKILL after 20 s
        else:
            bot.kill()
        sent = burst.result()
    rig.airflow.delay = 0.1
    rig.start_bot(**(restart_env or {}))
    return rig.tally(name, sent, started, timeout=timeout or 120)


def sigterm(rig: Rig, scale: float) -> Tally:
    """SIGTERM mid-burst of 50 commands against an Airflow answering in 2 s, then a new
    process."""
    return _stopped_mid_burst(rig, "sigterm", "SIGTERM mid-burst, new process")


def sigterm_small_pool(rig: Rig, scale: float) -> Tally:
    """The same with 4 worker threads: most of the burst is not started at SIGTERM, and is
    handed over to the new process."""
    return _stopped_mid_burst(rig, "sigterm", "SIGTERM mid-burst, 4 worker threads",
                              WORKER_THREADS="4")  # fmt: skip


def kill9(rig: Rig, scale: float) -> Tally:
    """kill -9 of every process mid-burst, then a new process on the same machine: it carries
    on with what the dead ones wrote down."""
    return _stopped_mid_burst(rig, "kill", "kill -9 of every process, new process")


def sigterm_every_process(rig: Rig, scale: float) -> Tally:
    """80 commands against an Airflow answering in 5 s, two workers; SIGTERM to every process
    of the bot at once (as Heroku signals a dyno), SIGKILL 30 s later, and a new process
    started at once (as a platform with preboot does): what could not finish within the
    grace is handed over too."""
    bot = rig.start_bot(WEB_CONCURRENCY="2")
    rig.airflow.delay = 5.0
    dags = [f"d{n:02d}" for n in range(80)]  # a filter each, to tell their answers apart
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        burst = pool.submit(rig.burst, bot, dags, "list")
        time.sleep(1.5)
        bot.signal_all(signal.SIGTERM)
        sent = burst.result()

        def kill_later() -> None:
            time.sleep(30)  # Heroku's wait between SIGTERM and SIGKILL
            bot.kill()

        killer = pool.submit(kill_later)
        rig.start_bot()
        tally = rig.tally("SIGTERM to every process mid-burst (80 at 5 s)", sent, started,
                          timeout=150)  # fmt: skip
        killer.result()
    return tally


def kill9_worker(rig: Rig, scale: float) -> Tally:
    """kill -9 of one of two workers mid-burst (as the OOM killer does); gunicorn starts
    another in its place."""
    bot = rig.start_bot(WEB_CONCURRENCY="2")
    rig.airflow.delay = 2.0
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        burst = pool.submit(rig.burst, bot, DAGS)
        time.sleep(1.5)
        victim = max(bot.worker_pids())
        os.kill(victim, signal.SIGKILL)
        sent = burst.result()
    rig.airflow.delay = 0.1
    return rig.tally("kill -9 of one worker mid-burst", sent, started, timeout=60)


def machine_lost(rig: Rig, scale: float) -> Tally:
    """kill -9 of every process mid-burst, and a new process on another machine (its own
    journal folder): what was acknowledged waits in the store for its lease to lapse."""
    return _stopped_mid_burst(rig, "kill", "kill -9 of every process, machine lost",
                              restart_env={"JOURNAL_DIR": str(rig.workdir / "elsewhere")},
                              timeout=60)  # fmt: skip


def pg_restart(rig: Rig, scale: float) -> Tally:
    """PostgreSQL restarted (down 5 s) mid-burst of 50 commands."""
    bot = rig.start_bot()
    rig.airflow.delay = 2.0
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        burst = pool.submit(rig.burst, bot, DAGS)
        time.sleep(1.0)
        rig.pg.restart(down_seconds=5 * max(scale, 0.2))
        sent = burst.result()
    rig.airflow.delay = 0.1
    return rig.tally("PostgreSQL restarted mid-burst", sent, started, timeout=120)


def airflow_down(rig: Rig, scale: float) -> Tally:
    """Airflow answers 503 for 2 minutes while commands come and runs fail, then is back."""
    bot = rig.start_bot()
    outage = 120 * scale
    started = time.monotonic()
    rig.airflow.down_until = time.monotonic() + outage
    sent = rig.spread(bot, outage * 0.8, commands=20, fail_every=2)
    return rig.tally("Airflow down (503)", sent, started, timeout=outage + 120)


CASES: dict[str, Callable[[Rig, float], Tally]] = {
    "slack_down": slack_down,
    "slack_down_at_start": slack_down_at_start,
    "rate_limited": rate_limited,
    "lost_answers": lost_answers,
    "sigterm": sigterm,
    "sigterm_small_pool": sigterm_small_pool,
    "sigterm_every_process": sigterm_every_process,
    "kill9": kill9,
    "kill9_worker": kill9_worker,
    "machine_lost": machine_lost,
    "pg_restart": pg_restart,
    "airflow_down": airflow_down,
}


@contextmanager
def world(workdir: Path) -> Iterator[tuple[SlackStandin, PostgresServer]]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed: ./scripts/test installs it")
    pg = PostgresServer(bin_dir).start()
    slack = SlackStandin(member_channels=None)
    slack.start()
    try:
        yield slack, pg
    finally:
        slack.stop()
        pg.stop()


def run(case: str, slack: SlackStandin, pg: PostgresServer, workdir: Path, scale: float) -> Tally:
    with Rig(slack, pg, workdir) as rig:
        return CASES[case](rig, scale)
