"""The watch's part for the trouble Airflow makes no sound about (``long``, ``queued``, ``late``,
``import_errors`` subscriptions): each is a state, not an event, so each round looks at what
holds now, opens an alert (once per channel: the ``watch_event`` row) for what newly holds, and
closes those whose trouble is over, telling how in the alert's thread.

What it costs Airflow, per deployment and round, whatever the number of DAGs: one call for the
runs running or queued (when a ``long`` or ``queued`` subscription needs it), one for the task
instances scheduled or queued (``queued``), one for the import errors (``import_errors``); and
at most ``DETAIL_CALLS`` more for the details of new trouble (the tasks of a long run, why a run
waits, a DAG's usual duration read once, a late DAG's last success, read in the ten minutes
before its deadline), the rest left for the next rounds; at a ``late`` deadline, two calls of
its own. An incident is closed only from a complete listing: a run missing from a page
that was cut is not taken for a run that ended.
"""

from __future__ import annotations

import hashlib
import logging
import re
import statistics
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.airflow import AirflowError, AirflowNotFound, Dag, DagPage, DagRun, RunPage
from bot.airflow.models import DagImportError, ImportErrorPage, TaskInstance, TaskPage
from bot.config import MIN_LONG_AFTER, Deadline
from bot.core import deadlines
from bot.core import format as fmt
from bot.core.alerts import AlertButtons, to_message
from bot.core.reply import Reply, section
from bot.core.silent_alerts import (
    Links,
    import_error_changed,
    import_error_post,
    late_alert,
    late_now,
    late_success,
    long_alert,
    queued_alert,
    resolved,
    run_ended,
    run_started,
)
from bot.core.subscriptions import Watching
from bot.store import DagHistories, DagHistory, Incidents, NewEvent, OwedEvent, Success
from bot.store.watches import THREAD

log = logging.getLogger(__name__)

LONG, QUEUED, LATE, IMPORT_ERRORS = "long", "queued", "late", "import_errors"
CHECKED = "late:checked"  # a deadline looked at for a channel: never posted
DETAIL_CALLS = 2  # calls a round may spend on the details of new trouble
# How long before a deadline its DAGs are listed and those the store knows nothing of read,
# with the rounds' spare calls (a DAG added meanwhile waits for the next deadline).
PREPARE_SECONDS = 600.0
PAGE = 100
_WILDCARD = re.compile(r"[*?\[]")
T = TypeVar("T")


class SilentAirflow(Protocol):
    """What the silent-trouble watch asks of a deployment's client (bot/airflow)."""

    def active_runs(self, *, limit: int = ..., offset: int = ...) -> RunPage: ...

    def waiting_tasks(self, *, limit: int = ..., offset: int = ...) -> TaskPage: ...

    def task_dependencies(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = ...
    ) -> list[str]: ...

    def import_errors(self, *, limit: int = ..., offset: int = ...) -> ImportErrorPage: ...

    def successful_runs(self, dag_id: str, *, limit: int = ...) -> list[DagRun]: ...

    def dag_details(self, dag_id: str) -> Dag: ...

    def get_run(self, dag_id: str, run_id: str) -> DagRun: ...

    def list_dags(
        self, *, pattern: str | None = ..., limit: int = ..., offset: int = ...
    ) -> DagPage: ...

    def latest_runs(self, dag_ids: Sequence[str]) -> dict[str, DagRun]: ...

    def recent_successes(
        self, dag_ids: Sequence[str], *, since: datetime, limit: int = ...
    ) -> RunPage: ...

    def task_instances(
        self, dag_id: str, run_id: str, *, states: Sequence[str] | None = None
    ) -> list[TaskInstance]: ...

    def dag_url(self, dag_id: str) -> str: ...

    def run_url(self, dag_id: str, run_id: str) -> str: ...


class SilentStore(Incidents, DagHistories, Protocol):
    """The open incidents and what the watch learned of each DAG."""


class OutOfCalls(Exception):
    """This round's calls for details are spent: the rest waits for the next round."""


@dataclass
class _Round:
    """One round of one deployment: what was read, what it may still read, what it found."""

    deployment: str
    client: SilentAirflow
    now: datetime
    calls: int = DETAIL_CALLS
    events: list[NewEvent] = field(default_factory=list)
    resolutions: list[tuple[OwedEvent, str]] = field(default_factory=list)

    def detail(self, read: Callable[[], T]) -> T:
        """A call for a detail, while this round may still make one."""
        if self.calls <= 0:
            raise OutOfCalls
        self.calls -= 1
        return read()

    def links(self, dag_id: str, run_id: str) -> Links:
        return Links(self.client.dag_url(dag_id), self.client.run_url(dag_id, run_id))


@dataclass(frozen=True)
class _Due:
    """A ``late`` subscription whose deadline is due this round, its DAGs listed."""

    watching: Watching
    deadline: Deadline
    at: datetime
    start: datetime  # its window's start
    mark: str
    listing: _LateList


@dataclass
class _LateList:
    """The DAGs a ``late`` pattern covers, read a page per call across rounds at a deadline."""

    dags: dict[str, Dag] = field(default_factory=dict)
    offset: int = 0
    done: bool = False


class SilentWatch:
    def __init__(self, *, store: SilentStore, buttons: AlertButtons) -> None:
        self._store = store
        self._buttons = buttons
        # When a task first showed waiting, where Airflow gives no time (Airflow 2's scheduled
        # tasks): by (deployment, dag, run, task, map index). Lost at a restart: the wait is
        # then counted again from the restart, late rather than false.
        # By deployment first: each deployment's rounds run one at a time, in threads of their
        # own (bot/core/watcher.py), so each touches only its own.
        self._first_seen: dict[str, dict[tuple[str, str, str, int], datetime]] = {}
        self._late_lists: dict[str, dict[tuple[str, datetime], _LateList]] = {}

    # -- one round ---------------------------------------------------------------------------

    def read(
        self,
        deployment: str,
        owner: str,
        client: SilentAirflow,
        watching: Sequence[Watching],
        *,
        now: datetime | None = None,
    ) -> None:
        """Open alerts for what newly holds, close those whose trouble is over."""
        r = _Round(deployment, client, now or datetime.now(UTC))
        wanting = {
            k: [w for w in watching if k in w.events] for k in (LONG, QUEUED, LATE, IMPORT_ERRORS)
        }
        open_rows = {
            k: self._store.open_events(deployment, k) for k in (LONG, QUEUED, IMPORT_ERRORS)
        }
        active: RunPage | None = None
        if wanting[LONG] or wanting[QUEUED] or open_rows[LONG] or open_rows[QUEUED]:
            active = client.active_runs(limit=PAGE)
        waiting: TaskPage | None = None
        if wanting[QUEUED] or open_rows[QUEUED]:
            waiting = client.waiting_tasks(limit=PAGE)
        errors: ImportErrorPage | None = None
        if wanting[IMPORT_ERRORS] or open_rows[IMPORT_ERRORS]:
            errors = client.import_errors(limit=PAGE)
        # Each kind on its own: one whose details use up the round's calls holds up no other's
        # listing (what is left holds next round too, and is found then).
        kinds: list[Callable[[], None]] = []
        if active is not None:
            kinds.append(partial(self._long, r, active, wanting[LONG], open_rows[LONG]))
            if waiting is not None:
                kinds.append(partial(self._queued, r, active, waiting, wanting[QUEUED],
                                     open_rows[QUEUED]))  # fmt: skip
        if errors is not None:
            kinds.append(partial(self._imports, r, errors, wanting[IMPORT_ERRORS],
                                 open_rows[IMPORT_ERRORS]))  # fmt: skip
        if wanting[LATE]:
            kinds.append(partial(self._late, r, wanting[LATE]))
        try:
            for kind in kinds:
                with suppress(OutOfCalls):
                    kind()
        finally:
            self._commit(r, owner)

    def learn(self, deployment: str, ended: Sequence[DagRun], watching: Sequence[Watching]) -> None:
        """What the runs the watch read teach: the usual duration of their DAGs, and the
        success that ends a ``late`` incident (told in its thread). Costs Airflow nothing."""
        wins = [r for r in ended if r.state == "success" and r.end_date is not None]
        if not wins or not any(LONG in w.events or LATE in w.events for w in watching):
            return
        self._store.learn_successes(
            deployment,
            [Success(r.dag_id, r.end_date, r.duration_seconds) for r in wins if r.end_date],
        )
        late_rows = self._store.open_events(deployment, LATE)
        for row in late_rows:
            won = [r for r in wins if r.dag_id == row.dag_id]
            if won:
                deadline = datetime.fromisoformat(str(row.message.get("deadline")))
                self._resolve(row, late_success(won[-1], deadline))

    # -- long --------------------------------------------------------------------------------

    def _long(
        self, r: _Round, active: RunPage, wanting: list[Watching], open_rows: list[OwedEvent]
    ) -> None:
        running = [run for run in active.runs if run.state == "running" and run.start_date]
        if active.total <= len(active.runs):
            still = {(run.dag_id, run.run_id) for run in running}
            for row in open_rows:
                if (row.dag_id, row.run_id) not in still:
                    self._resolve(row, run_ended(self._final(r, row), row.run_id))
        opened = {(row.channel_id, row.dag_id, row.run_id) for row in open_rows}
        auto = {
            run.dag_id
            for run in running
            for w in wanting
            if w.options.long_after is None and fnmatchcase(run.dag_id, w.dag_glob)
        }
        history = self._store.dag_histories(r.deployment, auto) if auto else {}
        for run in running:
            assert run.start_date is not None
            age = (r.now - run.start_date).total_seconds()
            channels: list[tuple[str, float]] = []
            for w in wanting:
                if not fnmatchcase(run.dag_id, w.dag_glob):
                    continue
                limit = w.options.long_after
                if limit is None and age <= MIN_LONG_AFTER:
                    continue  # no automatic limit is shorter: its history need not be read
                if limit is None:
                    limit = _auto_limit(self._history(r, run.dag_id, history))
                if (
                    limit is not None
                    and age > limit
                    and (w.channel_id, run.dag_id, run.run_id) not in opened
                ):
                    channels.append((w.channel_id, limit))
            channels = [
                (c, lim)
                for c, lim in channels
                if not self._told(r, c, run.dag_id, run.run_id, LONG)
            ]
            if not channels:
                continue
            usual = _usual(history.get(run.dag_id))
            try:
                tasks = r.detail(
                    partial(r.client.task_instances, run.dag_id, run.run_id, states=["running"])
                )
                missing = None
            except AirflowError as exc:
                tasks, missing = None, f"The running tasks could not be read: {exc.message}"
            for channel, limit in sorted(set(channels)):
                reply = long_alert(
                    r.deployment,
                    run,
                    now=r.now,
                    limit=limit,
                    usual=usual,
                    running=tasks,
                    links=r.links(run.dag_id, run.run_id),
                    buttons=self._buttons,
                    missing=missing,
                )
                r.events.append(NewEvent(channel, run.dag_id, run.run_id, LONG, to_message(reply)))

    def _history(self, r: _Round, dag_id: str, history: dict[str, DagHistory]) -> DagHistory:
        """The DAG's history, read from Airflow once when the store has none."""
        if dag_id not in history:
            self._read_history(r, dag_id, history)
        return history[dag_id]

    def _read_history(self, r: _Round, dag_id: str, history: dict[str, DagHistory]) -> DagHistory:
        """What Airflow says of the DAG's last successful runs, kept in the store (and in
        ``history``)."""
        runs = r.detail(partial(r.client.successful_runs, dag_id, limit=10))
        wins = [Success(x.dag_id, x.end_date, x.duration_seconds) for x in runs if x.end_date]
        history[dag_id] = self._store.record_history(r.deployment, dag_id, wins)
        return history[dag_id]

    # -- queued ------------------------------------------------------------------------------

    def _queued(
        self,
        r: _Round,
        active: RunPage,
        waiting: TaskPage,
        wanting: list[Watching],
        open_rows: list[OwedEvent],
    ) -> None:
        runs = {(run.dag_id, run.run_id): run for run in active.runs}
        tasks: dict[tuple[str, str], list[TaskInstance]] = {}
        seen: set[tuple[str, str, str, int]] = set()
        for ti in waiting.tasks:
            tasks.setdefault((ti.dag_id, ti.run_id), []).append(ti)
            seen.add((ti.dag_id, ti.run_id, ti.task_id, ti.map_index))
        seen |= {(run.dag_id, run.run_id, "", -2) for run in runs.values()
                 if run.state == "queued" and run.queued_at is None}  # fmt: skip
        before = self._first_seen.get(r.deployment, {})
        self._first_seen[r.deployment] = {k: before.get(k, r.now) for k in seen}
        complete = active.total <= len(active.runs) and waiting.total <= len(waiting.tasks)
        if complete:
            for row in open_rows:
                self._queued_over(r, row, runs.get((row.dag_id, row.run_id)), tasks)
        opened = {(row.channel_id, row.dag_id, row.run_id) for row in open_rows}
        for (dag_id, run_id), run in runs.items():
            found = [
                (channel, since, stuck)
                for channel, since, stuck in self._stuck(
                    r, run, tasks.get((dag_id, run_id), []), wanting
                )
                if (channel, dag_id, run_id) not in opened
                and not self._told(r, channel, dag_id, run_id, QUEUED)
            ]
            if not found:
                continue
            # Why, read once for every channel: the tasks that have waited longest first.
            why = self._why(r, run, max((s for _, _, s in found), key=len), runs.values())
            for channel, since, stuck in found:
                reply = queued_alert(
                    r.deployment,
                    run,
                    now=r.now,
                    since=since,
                    tasks=stuck,
                    why=why,
                    links=r.links(dag_id, run_id),
                )
                message = to_message(reply)
                message["queued"] = {
                    "run": run.state == "queued",
                    "tasks": [[t.task_id, t.map_index] for t in stuck],
                }
                r.events.append(NewEvent(channel, dag_id, run_id, QUEUED, message))

    def _stuck(
        self, r: _Round, run: DagRun, tasks: list[TaskInstance], wanting: list[Watching]
    ) -> list[tuple[str, datetime, list[TaskInstance]]]:
        """The channels for which the run (or some of its tasks) has waited too long: each with
        since when, and the tasks that have (none when the run itself is queued)."""
        found: list[tuple[str, datetime, list[TaskInstance]]] = []
        for w in wanting:
            if not fnmatchcase(run.dag_id, w.dag_glob):
                continue
            limit = timedelta(seconds=w.options.queued_after)
            queued = self._queued_since(r, run)
            if queued is not None and r.now - queued > limit:
                found.append((w.channel_id, queued, []))
                continue
            if run.state != "running":
                continue
            waited = [(self._since(r, t), t) for t in tasks]
            stuck = sorted((s, t) for s, t in waited if r.now - s > limit)
            if stuck:
                found.append((w.channel_id, stuck[0][0], [t for _, t in stuck]))
        return found

    def _queued_since(self, r: _Round, run: DagRun) -> datetime | None:
        """Since when a queued run waits: Airflow 3 says (``queued_at``); Airflow 2's API does
        not, so then since this process first saw it queued."""
        if run.state != "queued":
            return None
        first = self._first_seen.get(r.deployment, {})
        return run.queued_at or first.get((run.dag_id, run.run_id, "", -2))

    def _since(self, r: _Round, ti: TaskInstance) -> datetime:
        given = ti.queued_at if ti.state == "queued" else ti.scheduled_at
        first = self._first_seen[r.deployment]
        return given or first[(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)]

    def _why(self, r: _Round, run: DagRun, stuck: list[TaskInstance], runs: Any) -> list[str]:
        """Why it waits, in Airflow's words where it gives them; read once, for the alert."""
        try:
            if stuck:
                first = stuck[0]
                reasons: list[str] = r.detail(
                    lambda: r.client.task_dependencies(
                        run.dag_id, run.run_id, first.task_id, map_index=first.map_index
                    )
                )
                return reasons or [
                    "Airflow gives no reason: its scheduler or executor may be busy."
                ]
            dag: Dag = r.detail(lambda: r.client.dag_details(run.dag_id))
        except AirflowError as exc:
            return [f"Why could not be read: {exc.message}"]
        if dag.is_paused:
            return ["The DAG is paused: its runs wait until it is unpaused."]
        holding = sorted(x.run_id for x in runs if x.dag_id == run.dag_id and x.state == "running")
        if dag.max_active_runs is not None and len(holding) >= dag.max_active_runs:
            held = ", ".join(holding[:5])
            return [f"max_active_runs ({dag.max_active_runs}) is reached: held by {held}."]
        return ["Airflow gives no reason: its scheduler may be busy, or not running."]

    def _queued_over(
        self,
        r: _Round,
        row: OwedEvent,
        run: DagRun | None,
        tasks: dict[tuple[str, str], list[TaskInstance]],
    ) -> None:
        facts = row.message.get("queued") or {}
        named = {(str(t[0]), int(t[1])) for t in facts.get("tasks") or []}
        still = {(t.task_id, t.map_index) for t in tasks.get((row.dag_id, row.run_id), [])}
        if (run is not None and run.state == "queued") or named & still:
            return
        if run is None:
            self._resolve(row, run_ended(self._final(r, row), row.run_id))
        elif named:
            self._resolve(row, "Started: the tasks it waited for are no longer queued.")
        else:
            self._resolve(row, run_started(run, row.run_id))

    # -- import errors -----------------------------------------------------------------------

    def _imports(
        self,
        r: _Round,
        page: ImportErrorPage,
        wanting: list[Watching],
        open_rows: list[OwedEvent],
    ) -> None:
        errors = {_file_key(e.filename): e for e in page.errors}
        by_channel = {(row.channel_id, row.dag_id): row for row in open_rows}
        if page.total <= len(page.errors):
            for row in open_rows:
                if row.dag_id not in errors:
                    self._resolve(
                        row, f"Imports again: Airflow lists no error for it at {fmt.when(r.now)}."
                    )
        for key, error in errors.items():
            digest = _digest(error.stack_trace)
            for channel in sorted({w.channel_id for w in wanting if _file_matches(error, w)}):
                told = by_channel.get((channel, key))
                if told is None:
                    message = to_message(import_error_post(r.deployment, error))
                    message["import_error"] = {"digest": digest}
                    r.events.append(NewEvent(channel, key, str(error.id), IMPORT_ERRORS, message))
                elif (told.message.get("import_error") or {}).get("digest") != digest:
                    changed = to_message(import_error_changed(error))
                    changed["thread_of"] = told.id
                    r.events.append(
                        NewEvent(channel, key, f"{told.id}:changed:{digest}", THREAD, changed)
                    )

    # -- late --------------------------------------------------------------------------------

    def _late(self, r: _Round, wanting: list[Watching]) -> None:
        grace = timedelta(seconds=deadlines.GRACE_SECONDS)
        lists = self._late_lists.setdefault(r.deployment, {})
        for key in [k for k in lists if k[1] < r.now - grace]:
            del lists[key]  # a listing a deadline left unfinished
        due: list[_Due] = []
        for w in wanting:
            deadline = w.options.late
            if deadline is None:
                continue
            with suppress(OutOfCalls):  # the next subscription's listing may be ready
                at = deadlines.due(deadline, r.now, since=w.starts_after)
                if at is None:
                    soon = deadlines.ahead(deadline, r.now, lead=PREPARE_SECONDS)
                    if soon is not None and (w.starts_after is None or soon > w.starts_after):
                        self._prepare(r, w.dag_glob, soon)
                    continue
                mark = f"late@{at.isoformat()}"
                if self._store.has_event(w.channel_id, r.deployment, w.dag_glob, mark, CHECKED):
                    continue
                listing = self._listing(r, w.dag_glob, at)
                if listing.done:
                    start = at - timedelta(seconds=deadline.window_seconds)
                    due.append(_Due(w, deadline, at, start, mark, listing))
        if due:
            self._judge(r, due)

    def _prepare(self, r: _Round, glob: str, at: datetime) -> None:
        """Ahead of a deadline, with the round's spare calls: the DAGs ``glob`` covers listed,
        and the last success of those the store knows nothing of read, so that at the
        deadline itself two calls tell which are late."""
        listing = self._listing(r, glob, at)
        if not listing.done:
            return
        history = self._store.dag_histories(r.deployment, listing.dags)
        for dag_id in sorted(set(listing.dags) - set(history)):
            self._read_history(r, dag_id, history)

    def _judge(self, r: _Round, due: list[_Due]) -> None:
        """At the deadline: which DAGs are late, for every subscription due this round, in two
        calls whatever their number: the successes since the earliest window began of the DAGs
        not known to have one, then what the late ones do now. These two are the deadline's own,
        outside the round's budget for details: a deadline comes once a day, and its alert is
        news only at it."""
        history = self._store.dag_histories(r.deployment, {d for x in due for d in x.listing.dags})
        looking = sorted(
            {d for x in due for d in x.listing.dags if not _known_won(history, d, x.start, r.now)}
        )
        page = (
            r.client.recent_successes(looking, since=min(x.start for x in due), limit=PAGE)
            if looking
            else RunPage(runs=(), total=0)
        )
        won: dict[str, datetime] = {}
        for run in page.runs:
            if run.end_date is not None and run.dag_id not in won:
                won[run.dag_id] = run.end_date
        self._store.learn_successes(
            r.deployment,
            [Success(x.dag_id, x.end_date, x.duration_seconds) for x in page.runs if x.end_date],
        )
        # A full page may have left out a DAG's success: such a DAG is asked on its own.
        complete = page.total <= len(page.runs)
        judged: list[tuple[_Due, list[tuple[str, datetime | None]]]] = []
        for x in due:
            with suppress(OutOfCalls):  # asked again next round, the deadline still due
                judged.append((x, self._late_dags(r, x, history, won, complete=complete)))
        late = sorted({d for _, dags in judged for d, _ in dags})
        newest = r.client.latest_runs(late) if late else {}
        for x, dags in judged:
            shown = deadlines.shown(x.deadline, x.at)
            for dag_id, last in dags:
                reply = late_alert(
                    r.deployment,
                    dag_id,
                    deadline=shown,
                    window=_hours(x.deadline.window_seconds),
                    last_success=last,
                    now_doing=late_now(newest.get(dag_id), x.listing.dags[dag_id].is_paused),
                    dag_url=r.client.dag_url(dag_id),
                )
                message = to_message(reply)
                message["deadline"] = x.at.isoformat()
                r.events.append(NewEvent(x.watching.channel_id, dag_id, x.mark, LATE, message))
            checked = NewEvent(
                x.watching.channel_id, x.watching.dag_glob, x.mark, CHECKED, {}, marker=True
            )
            r.events.append(checked)
            self._late_lists[r.deployment].pop((x.watching.dag_glob, x.at), None)

    def _late_dags(
        self,
        r: _Round,
        x: _Due,
        history: dict[str, DagHistory],
        won: dict[str, datetime],
        *,
        complete: bool,
    ) -> list[tuple[str, datetime | None]]:
        """The DAGs of ``x`` with no success in its window, each with its last success."""
        late: list[tuple[str, datetime | None]] = []
        for dag_id in sorted(x.listing.dags):
            if _known_won(history, dag_id, x.start, r.now):
                continue
            end = won.get(dag_id)
            if end is not None and x.start <= end:
                continue
            known = history.get(dag_id)
            if known is None or (not complete and end is None):
                # Its last success (for the alert), or whether it had one the page left out.
                known = self._read_history(r, dag_id, history)
                if _won(known, x.start, r.now):
                    continue
            late.append((dag_id, end or known.last_success_end))
        return late

    def _listing(self, r: _Round, glob: str, at: datetime) -> _LateList:
        """The DAGs ``glob`` covers, a page per call, kept across rounds until complete."""
        listing = self._late_lists[r.deployment].setdefault((glob, at), _LateList())
        if not _WILDCARD.search(glob):
            if not listing.done:
                with suppress(AirflowNotFound):  # no such DAG: nothing is late
                    listing.dags[glob] = r.detail(lambda: r.client.dag_details(glob))
                listing.done = True
            return listing
        literal = max(_WILDCARD.split(glob), key=len)
        while not listing.done:
            page: DagPage = r.detail(
                lambda: r.client.list_dags(
                    pattern=literal or None, limit=PAGE, offset=listing.offset
                )
            )
            listing.dags.update({d.dag_id: d for d in page.dags if fnmatchcase(d.dag_id, glob)})
            listing.offset += len(page.dags)
            listing.done = not page.dags or listing.offset >= page.total
        return listing

    # -- shared ------------------------------------------------------------------------------

    def _told(self, r: _Round, channel: str, dag_id: str, run_id: str, event: str) -> bool:
        """An alert of this already recorded, and since closed (a run cleared and running
        again is not told twice), or recorded this round."""
        if any(
            (e.channel_id, e.dag_id, e.run_id, e.event) == (channel, dag_id, run_id, event)
            for e in r.events
        ):
            return True
        return self._store.has_event(channel, r.deployment, dag_id, run_id, event)

    def _final(self, r: _Round, row: OwedEvent) -> DagRun | None:
        """The run an alert was about, as it ended (one call, from this round's details)."""
        try:
            run: DagRun = r.detail(lambda: r.client.get_run(row.dag_id, row.run_id))
        except AirflowNotFound:
            return None
        return run

    def _resolve(self, row: OwedEvent, line: str) -> None:
        """Close the alert: a reply in its thread, and the alert without its buttons (or, not
        posted yet, the alert posted as it then reads)."""
        after = resolved(row.message, line)
        thread = Reply(
            text=_plain(line),
            blocks=[section(line)],
        )
        reply = to_message(thread)
        reply["thread_of"] = row.id
        reply["replace"] = after
        self._store.resolve_event(
            row.id,
            resolved=after,
            thread=NewEvent(row.channel_id, row.dag_id, f"{row.id}:end", THREAD, reply),
        )

    def _commit(self, r: _Round, owner: str) -> None:
        if r.events and not self._store.record_events(r.deployment, owner, r.events):
            log.info(
                "the watch of %s went to another process before its alerts were recorded",
                r.deployment,
            )


def _auto_limit(history: DagHistory) -> float | None:
    """Twice the usual duration, never under MIN_LONG_AFTER; None without a successful run."""
    usual = _usual(history)
    return None if usual is None else max(MIN_LONG_AFTER, 2 * usual)


def _usual(history: DagHistory | None) -> float | None:
    if history is None or not history.durations:
        return None
    return float(statistics.median(history.durations))


def _won(history: DagHistory, start: datetime, end: datetime) -> bool:
    last = history.last_success_end
    return last is not None and start <= last <= end


def _known_won(history: dict[str, DagHistory], dag_id: str, start: datetime, end: datetime) -> bool:
    known = history.get(dag_id)
    return known is not None and _won(known, start, end)


def _file_matches(error: DagImportError, watching: Watching) -> bool:
    """Whether the subscription's pattern matches the file: its path as Airflow gives it
    (Airflow 2: absolute; Airflow 3: within its bundle), or its name alone."""
    name = error.filename.rsplit("/", 1)[-1]
    return fnmatchcase(error.filename, watching.dag_glob) or fnmatchcase(name, watching.dag_glob)


def _file_key(filename: str) -> str:
    """A file's key in the store (its ``dag_id`` column, 255 characters): the path, or, for a
    longer one, its end after a digest of the whole."""
    if len(filename) <= 255:
        return filename
    return f"{_digest(filename)}…{filename[-230:]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} hours" if hours != 1 else "hour"


def _plain(mrkdwn: str) -> str:
    return mrkdwn.replace("`", "")
