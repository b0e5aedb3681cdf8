"""Airflow's refusals and faults, in words that name what to do next with which verb."""

from __future__ import annotations

from bot.airflow import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowOutcomeUnknown,
    AirflowRateLimited,
    AirflowSignInFailed,
    AirflowUnavailable,
)
from bot.core.parser import Command
from bot.core.reply import Reply, code, escape, section
from bot.core.verbs import Verb


def airflow_failure(exc: AirflowError, cmd: Command, verb: Verb) -> Reply:
    dep = code(cmd.deployment or "")
    said = escape(exc.message)
    check = (
        f" Check with {code(f'/airflow status {cmd.deployment} {cmd.dag_id}')} before trying again."
        if verb.writes
        else ""
    )
    if isinstance(exc, AirflowNotFound):
        text = _not_found(exc, cmd)
    elif isinstance(exc, AirflowOutcomeUnknown):
        text = (
            "The bot was restarted while it was doing this, after it had asked Airflow on "
            f"{dep}: whether Airflow did it is not known, and the bot does not ask again."
            + (check or " Run the command again if it is still needed.")
        )
    elif isinstance(exc, AirflowConflict):
        text = (
            f"Airflow on {dep} refused: a run of {code(cmd.dag_id or '')} with that run id or "
            f"logical date already exists. Airflow said: {said}"
        )
    elif isinstance(exc, AirflowNotAllowed):
        # A platform's exchange refused, or no AWS or Google credentials on the bot's host:
        # Airflow itself refused nothing yet.
        refused = (
            f"The bot could not sign in to Airflow on {dep}"
            if isinstance(exc, AirflowSignInFailed) or not exc.status
            else f"Airflow on {dep} refused the bot's credentials (HTTP {exc.status})"
        )
        text = (
            f"{refused}: {said}. "
            "An admin should check this deployment's credentials in the bot's config."
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
    if cmd.task_id and cmd.run_id and not exc.suggestions:
        return (
            f"No run {code(cmd.run_id)} of {dag} on {dep}, or no task {code(cmd.task_id)} "
            f"in it. Airflow said: {escape(exc.message)}"
        )
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
        AirflowSignInFailed: "could not sign in",
        AirflowRateLimited: "rate limited",
        AirflowUnavailable: "Airflow not answering",
        AirflowBadRequest: "rejected by Airflow",
        AirflowOutcomeUnknown: "outcome unknown",
    }
    return names.get(type(exc), "Airflow error")
