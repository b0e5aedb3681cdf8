"""Failed runs spoken as incidents: one message per DAG and channel from its first failure to
its next success, the failures between told in that message's thread.

The first failure is posted as the failure alert it always was, the incident's count in its
data. A later failure while the incident is open is a reply in its thread (that run's own
alert, with its own buttons), and the message gains a line saying how many and since when,
naming the newest run, so the channel gains no message. The DAG's next success closes it: the
thread says how, the message loses its buttons. A failure within ``REOPEN_SECONDS`` of a
recovery reopens the incident in its thread rather than posting again: a flapping DAG gets one
message per ten minutes at most. **Acknowledge** on the message (commands/ack.py) says in it who
is on it, and since when (``shown``); the store keeps that through the message's later updates.

All of it is computed from the runs the watch read this round and the incidents in the store:
no Airflow call of its own. The store records each reply, and what it does to its incident
(the message replaced, closed, reopened), in the transaction that moves the watermark
(bot/store/watches.py), so a crash neither loses a count nor makes one twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.airflow import DagRun
from bot.core import format as fmt
from bot.core.alerts import with_button
from bot.core.changes import facts, since_it_worked
from bot.core.reply import Intent, code, context, escape, section
from bot.core.silent_alerts import resolved
from bot.store import NewEvent, OwedEvent
from bot.store.watches import ACK, CLOSE, REOPEN, THREAD

FAILED = "failed"
REOPEN_SECONDS = 600.0  # a failure this soon after a recovery reopens the incident
COUNT_BLOCK = "incident-count"  # the block of the message that says how many and since when
END_BLOCK = "incident-end"  # the block of a closed incident's message that says how it ended
ACK_BLOCK = "incident-ack"  # the block that says who is on it
CHANGES_BLOCK = "changes"  # the block that says what changed since the DAG last worked

# What stands for an incident in a reply: its id in the store, or, for one opened in the
# same round (no id yet), the run_id and event of the alert that opened it.
Ref = int | dict[str, str]


@dataclass
class _Incident:
    ref: Ref
    message: dict[str, Any]  # its message as it now stands
    closed_at: datetime | None  # None: open


@dataclass(frozen=True)
class _Round:
    deployment: str
    ack: str | None  # the Acknowledge button's action id (None: not offered)
    now: datetime
    last_success: Mapping[str, dict[str, Any] | None]  # read for the DAGs opening incidents


def group(
    ended: Sequence[tuple[DagRun, Sequence[NewEvent]]],
    incidents: Sequence[OwedEvent],
    *,
    deployment: str,
    ack: str | None,
    now: datetime,
    last_success: Mapping[str, dict[str, Any] | None] | None = None,
) -> list[NewEvent]:
    """The round's events with the failures spoken as incidents. ``ended``: the runs read this
    round, oldest first, each with the events rendered for it (a failure alert per channel
    that wants it, or a success line); ``incidents``: those of the deployment open, or closed
    within ``REOPEN_SECONDS``, oldest first. ``ack``: the action id of the Acknowledge button
    each incident's message carries while it is open. ``last_success``: for the DAGs whose
    failure may open an incident, the ``changes.facts`` of their last success (None: none),
    kept in the incident so that each of its failures says what changed since."""
    current = {(i.channel_id, i.dag_id): _Incident(i.id, i.message, i.closed_at) for i in incidents}
    r = _Round(deployment, ack, now, last_success or {})
    out: list[NewEvent] = []
    for run, events in ended:
        if run.state == FAILED:
            out += (_failure(r, e, run, current) for e in events)
        else:
            out += events
            out += _recoveries(run, current, now)
    return out


def shown(message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack shows it: who is on it said under its count, if anyone is."""
    blocks = [b for b in message.get("blocks") or [] if b.get("block_id") != ACK_BLOCK]
    ack = message.get(ACK)
    if not ack:
        return {**message, "blocks": blocks}
    line = f":eyes: <@{escape(str(ack['by']))}> is on it (acknowledged at "
    line += f"{fmt.when(datetime.fromisoformat(str(ack['at'])))})."
    at = next((i + 1 for i, b in enumerate(blocks) if b.get("block_id") == COUNT_BLOCK), 1)
    block = {**context(line), "block_id": ACK_BLOCK}
    return {**message, "blocks": [*blocks[:at], block, *blocks[at:]]}


def _with_ack(message: dict[str, Any], r: _Round, dag_id: str) -> dict[str, Any]:
    """The message with an Acknowledge button among its actions (one it has already: kept)."""
    if r.ack is None or any(i.get("verb") == r.ack for i in message.get("intents") or []):
        return message
    return with_button(message, "Acknowledge", Intent(r.ack, r.deployment, dag_id))


def _failure(
    r: _Round, event: NewEvent, run: DagRun, current: dict[tuple[str, str], _Incident]
) -> NewEvent:
    key, now = (event.channel_id, event.dag_id), r.now
    ended = run.end_date or now
    was = current.get(key)
    if was is None or (
        was.closed_at is not None and (now - was.closed_at).total_seconds() >= REOPEN_SECONDS
    ):
        at = ended.isoformat()
        count: dict[str, Any] = {"count": 1, "since": at, "last": at, "last_run": event.run_id,
                                 "text": event.message["text"]}  # fmt: skip
        if event.dag_id in r.last_success:
            count["last_success"] = r.last_success[event.dag_id]
        alert = _with_changes(event.message, run, count)
        message = {**_with_ack(alert, r, event.dag_id), "incident": count}
        current[key] = _Incident({"run_id": event.run_id, "event": event.event}, message, None)
        return dataclasses.replace(event, message=message)
    before = was.message.get("incident") or {"count": 1, "since": ended.isoformat()}
    count = {**before, "count": int(before["count"]) + 1, "last": ended.isoformat(),
             "last_run": event.run_id}  # fmt: skip
    reply: dict[str, Any] = {**_with_changes(event.message, run, before), "thread_of": was.ref}
    then = None
    if was.closed_at is not None:
        again = fmt.duration((now - was.closed_at).total_seconds())
        reply["blocks"] = [
            context(f":repeat: Failing again {again} after it recovered: open again."),
            *reply["blocks"],
        ]
        then = REOPEN
    reply["replace"] = _with_ack(counted(was.message, count), r, event.dag_id)
    was.message, was.closed_at = reply["replace"], None
    return dataclasses.replace(event, message=reply, closed=True, then=then)


def _with_changes(alert: dict[str, Any], run: DagRun, count: dict[str, Any]) -> dict[str, Any]:
    """The failure alert with what changed since the DAG last worked under its first block,
    where the incident knows its last success (or that it had none)."""
    if "last_success" not in count:
        return alert
    line = since_it_worked(facts(run), count["last_success"])
    block = {**context(f":mag: {line}"), "block_id": CHANGES_BLOCK}
    blocks = list(alert["blocks"])
    return {**alert, "blocks": [*blocks[:1], block, *blocks[1:]]}


def counted(message: dict[str, Any], count: dict[str, Any]) -> dict[str, Any]:
    """The incident's message with how many failures and since when under its first block,
    the newest named (its alert is in the thread), and no longer saying how it ended."""
    n = int(count["count"])
    since, last = datetime.fromisoformat(count["since"]), datetime.fromisoformat(count["last"])
    line = (
        f"Failed {n} times since {fmt.when(since)}, last at {fmt.when(last)}: "
        f"run {code(str(count.get('last_run', '')))}, in the thread."
    )
    block = {**context(f":repeat: {line}"), "block_id": COUNT_BLOCK}
    blocks = [b for b in message["blocks"] if b.get("block_id") not in (COUNT_BLOCK, END_BLOCK)]
    text = str(count.get("text") or message["text"])
    return {
        **message,
        "text": f"{text} Failed {n} times since {fmt.when(since)}.",
        "blocks": [*blocks[:1], block, *blocks[1:]],
        "incident": {**count, "text": text},
    }


def _recoveries(
    run: DagRun, current: dict[tuple[str, str], _Incident], now: datetime
) -> Iterator[NewEvent]:
    """The open incidents of ``run``'s DAG closed by its success, each told in its thread."""
    ended = run.end_date or now
    for (channel, dag_id), incident in current.items():
        if dag_id != run.dag_id or incident.closed_at is not None:
            continue
        count = incident.message.get("incident") or {"since": ended.isoformat()}
        after = (ended - datetime.fromisoformat(count["since"])).total_seconds()
        line = (
            f"Recovered: run {code(run.run_id)} succeeded at {fmt.when(ended)}, "
            f"{fmt.duration(after)} after the first failure."
        )
        # What a failure soon after is compared with: this success.
        closed = {**resolved(incident.message, line),
                  "incident": {**count, "last_success": facts(run)}}  # fmt: skip
        closed["text"] = f"Recovered: {count.get('text') or incident.message['text']}"
        closed["blocks"][-1] = {**closed["blocks"][-1], "block_id": END_BLOCK}
        plain = f"{escape(dag_id)} recovered: run {escape(run.run_id)} succeeded."
        reply = {"text": plain, "blocks": [section(f":white_check_mark: {line}")], "intents": [],
                 "thread_of": incident.ref, "replace": closed}  # fmt: skip
        incident.message, incident.closed_at = closed, now
        yield NewEvent(channel, dag_id, f"recovered:{run.run_id}", THREAD, reply,
                       closed=True, then=CLOSE)  # fmt: skip
