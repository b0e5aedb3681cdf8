"""Every failure a user can meet, rendered in one place as something they can act on."""

from __future__ import annotations

import logging
import uuid

from bot.airflow import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from bot.core.parser import Command, UsageError
from bot.core.reply import Reply, code, context, escape, section
from commands import WRITE_VERBS

log = logging.getLogger(__name__)


def usage_reply(err: UsageError) -> Reply:
    lines = [f":warning: {err.problem}"]
    if err.usage:
        lines.append(f"Usage: {code(err.usage)}")
    text = "\n".join(lines)
    return Reply(text=text, blocks=[section(text)], ephemeral=True, ok=False)


def airflow_failure(exc: AirflowError, cmd: Command) -> Reply:
    dep = code(cmd.deployment or "")
    said = escape(exc.message)
    check = (
        f" Check with {code(f'/airflow status {cmd.deployment} {cmd.dag_id}')} before trying again."
        if cmd.verb in WRITE_VERBS
        else ""
    )
    if isinstance(exc, AirflowNotFound):
        text = _not_found(exc, cmd)
    elif isinstance(exc, AirflowConflict):
        text = (
            f"Airflow on {dep} refused: a run of {code(cmd.dag_id or '')} with that run id or "
            f"logical date already exists. Airflow said: {said}"
        )
    elif isinstance(exc, AirflowNotAllowed):
        text = (
            f"Airflow on {dep} refused the bot's credentials (HTTP {exc.status}): {said}. "
            "An admin should check this deployment's token or password in the bot's config."
        )
    elif isinstance(exc, AirflowRateLimited):
        wait = f" in {exc.retry_after:.0f} s" if exc.retry_after else " in a minute"
        text = f"Airflow on {dep} is rate limiting the bot. Try again{wait}."
    elif isinstance(exc, AirflowUnavailable):
        text = f"Airflow on {dep} is not answering: {said}.{check}"
    elif isinstance(exc, AirflowBadRequest):
        text = f"Airflow on {dep} rejected the request: {said}"
    else:
        text = f"Airflow on {dep} failed: {said}"
    return Reply(
        text=text,
        blocks=[section(f":x: {text}")],
        ok=False,
        outcome=f"failed: {_short(exc)}",
        error=f"{type(exc).__name__}: {exc.message}",
    )


def _not_found(exc: AirflowNotFound, cmd: Command) -> str:
    dep = code(cmd.deployment or "")
    dag = code(cmd.dag_id or "")
    if cmd.run_id and not exc.suggestions:
        return f"No run {code(cmd.run_id)} of {dag} on {dep}. Airflow said: {escape(exc.message)}"
    if exc.suggestions:
        options = " or ".join(code(s) for s in exc.suggestions)
        return f"DAG {dag} not found on {dep}. Did you mean {options}?"
    return (
        f"DAG {dag} not found on {dep}. "
        f"See what there is with {code(f'/airflow list {cmd.deployment}')}."
    )


def _short(exc: AirflowError) -> str:
    names = {
        AirflowNotFound: "not found",
        AirflowConflict: "already exists",
        AirflowNotAllowed: "Airflow refused the bot's credentials",
        AirflowRateLimited: "rate limited",
        AirflowUnavailable: "Airflow not answering",
        AirflowBadRequest: "rejected by Airflow",
    }
    return names.get(type(exc), "Airflow error")


def internal_failure(exc: BaseException) -> Reply:
    """A bug on the bot's side: the details go to the log under a reference, never to Slack."""
    ref = uuid.uuid4().hex[:8]
    log.error("internal error ref=%s", ref, exc_info=exc)
    text = (
        f"Something went wrong inside the bot (reference `{ref}`). Nothing more was done; "
        "the bot's operators can find the details in its log under that reference."
    )
    return Reply(
        text=text,
        blocks=[section(f":boom: {text}"), context("Sorry about that.")],
        ok=False,
        outcome="failed: internal error",
        error=f"internal error, log reference {ref}",
    )


def denial_reply(reason: str) -> Reply:
    text = f":no_entry: {reason}"
    return Reply(text=text, blocks=[section(text)], ephemeral=True, ok=False, outcome="denied")


def store_failure(exc: BaseException) -> Reply:
    """The audit trail could not be written: refuse to act rather than act unrecorded."""
    ref = uuid.uuid4().hex[:8]
    log.error("state store failure ref=%s: %s", ref, type(exc).__name__)
    text = (
        "The bot cannot write its audit trail right now, so it did nothing "
        f"(reference `{ref}`). Try again in a minute; if it persists, tell the bot's operators."
    )
    return Reply(text=text, blocks=[section(f":x: {text}")], ok=False, outcome="failed: store down")
