"""``/airflow subscribe [<deployment>] <dag-glob> [<event>...]``: this channel hears about those
DAGs (runs that fail, by default), whoever started their runs: runs that fail or succeed, tasks
waiting for a person, and the trouble Airflow is silent about: a run running long, a run or task
queued long, a DAG with no success by a time of day, a DAG file that does not import.

The pattern must lie within the asker's own DAG patterns: someone limited to ``etl_*`` cannot
subscribe a channel to ``*``. What a subscription posts is seen by everyone in the channel.
"""

from __future__ import annotations

from bot.core.context import Context
from bot.core.hitl import version_refusal
from bot.core.reply import Reply, code, text_reply
from bot.core.subscriptions import Change, event_limits, glob_within
from bot.core.verbs import Arg, Verb

HITL = "hitl"


def run(ctx: Context) -> Reply:
    cmd = ctx.command
    glob, dep = cmd.glob or "", ctx.deployment
    if HITL in cmd.events:
        version = ctx.airflow.hitl_refusal()
        if version is not None:
            return version_refusal(dep, version)
    refusal = outside_grants(ctx, glob)
    if refusal:
        return refusal
    change = ctx.book.subscribe(
        channel_id=ctx.channel_id, deployment=dep, dag_glob=glob, events=cmd.events,
        options=cmd.options, user_id=ctx.user_id,
    )  # fmt: skip
    where = f"{code(glob)} on {code(dep)}"
    if change is Change.DECLARED:
        return text_reply(
            f"This channel's subscription to {where} is kept in the bot's config file "
            "(`subscriptions:`): change it there.",
            ok=False,
        )
    events = _and(event_limits(cmd.events, cmd.options))
    lead = "now hears" if change is Change.ADDED else "now hears instead"
    text = (
        f":bell: This channel {lead} about DAGs matching {where}, from now on: {events}. "
        f"Everyone in the channel sees these posts; "
        f"{code(f'/airflow unsubscribe {dep} {glob}')} stops them."
    )
    return Reply(text=text, blocks=text_reply(text).blocks, outcome=f"subscribed to {where}")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def outside_grants(ctx: Context, glob: str) -> Reply | None:
    """A refusal when ``glob`` may match DAGs beyond the asker's own patterns for this verb."""
    allowed = ctx.access.dag_globs(
        channel_id=ctx.channel_id, verb=ctx.command.verb, deployment=ctx.deployment
    )
    if glob_within(glob, allowed):
        return None
    mine = ", ".join(code(g) for g in allowed or ())
    return text_reply(
        f":no_entry: You may {code(ctx.command.verb)} only DAGs matching {mine}, and "
        f"{code(glob)} may match others: name a pattern within yours, like "
        f"{code((allowed or ('etl_*',))[0])}.",
        ok=False,
    )


VERB = Verb(
    name="subscribe",
    about="Hear in this channel about DAGs matching a pattern: runs that fail (or succeed), "
    "run too long or wait queued, DAGs late by a time of day, DAG files that do not import.",
    run=run,
    args=(Arg.GLOB, Arg.EVENTS),
    role="operator",
    examples=(
        "/airflow subscribe prod etl_*",
        "/airflow subscribe prod etl_daily failed success",
        "/airflow subscribe prod etl_* hitl",
        "/airflow subscribe prod etl_* long=2h queued=30m",
        "/airflow subscribe prod etl_* long queued late=09:00/Europe/Berlin",
        "/airflow subscribe prod * import_errors",
    ),
    notes="Events: `failed` (the default) posts an alert with the failed tasks, the end of the "
    "log and buttons to act; `success` posts one line per run; `hitl` posts each task waiting "
    "for a person (Airflow 3.1+) with a button per option. "
    "`long` posts a run still running past twice its usual duration (at least 10m), or past "
    "`long=&lt;duration&gt;`; `queued` a run or task queued over 15m, or "
    "`queued=&lt;duration&gt;`, and why; `late=&lt;HH:MM&gt;[/&lt;zone&gt;]` each DAG with no "
    "success in the 24 hours before that time, each day (UTC unless a zone is named, like "
    "`late=09:00/Europe/Berlin`); `import_errors` each DAG file that does not import (the "
    "pattern matches its path). A duration is a number and a unit: `90s`, `30m`, `2h`, `1d`, "
    "`1h30m`. Everyone in the channel sees these posts.",
)
