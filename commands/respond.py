"""Answer a task waiting for a person (Airflow 3.1+ human-in-the-loop): the buttons of a
``hitl`` post or of ``/airflow inbox``, one per option. Needs ``respond`` on the DAG, and where
the task names assigned users, a Slack user mapped to one of them (``airflow_users:``).

Checked before anything is sent: the task still waits, the clicker may answer it, and no other
click (a double click, someone else, another post of it) is answering it: one stored claim per
task, taken atomically (bot/core/answer_claims.py). Airflow records the bot's API identity as
the responder; the audit trail records the Slack user.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bot.airflow import AirflowNotAllowed
from bot.airflow.hitl import HitlAnswered, HitlRequest
from bot.core import format as fmt
from bot.core.context import Context
from bot.core.hitl import HitlButtons, answered_post, version_refusal, where_text
from bot.core.reply import Reply, code, escape, text_reply
from bot.core.verbs import Button, Form, Offer, Verb
from commands import respond_form

BUTTON = "respond"  # one per option
FORM = "respond_form"  # Answer…: the form of a task taking several options or parameters
BUTTONS = HitlButtons(answer=BUTTON, form=FORM)
# Airflow (3.3 at least) fails a task answered within moments of its parking: the executor's
# report that the parked try exited can land after the answer has queued the task again, and the
# scheduler takes it for a task changed behind its back (apache/airflow#72716). A person rarely
# answers that fast, but a click that does is held until the task has waited this long.
PARKED_FOR_S = 5.0


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    version = client.hitl_refusal()
    if version is not None:
        return version_refusal(ctx.deployment, version)
    task_id, map_index, chosen = _answer(cmd.conf)
    params_input = dict(cmd.conf.get("params_input") or {})
    req = client.hitl_request(cmd.dag_id or "", cmd.run_id or "", task_id, map_index)
    where = where_text(ctx.deployment, req)
    if req.response_received:
        return _told(_already(req.responded_by, req, where))
    if not chosen or not set(chosen) <= set(req.options):
        return _told(f"{code(', '.join(chosen))} is not an option of {where}: nothing was sent.")
    if len(chosen) > 1 and not req.multiple:
        return _told(f"{where} takes one option, not {len(chosen)}: nothing was sent.")
    refusal = _not_assigned(ctx, req, where)
    if refusal:
        return refusal
    claim = ctx.answer_claims.take(ctx.deployment, req, user_id=ctx.user_id,
                                   channel_id=ctx.channel_id, chosen=chosen)  # fmt: skip
    if claim.held_by is not None:
        return _told(f"{claim.held_by} first: nothing was sent.")
    _let_it_park(req)
    try:
        client.hitl_respond(req.dag_id, req.run_id, req.task_id, req.map_index, chosen,
                            params_input)  # fmt: skip
    except HitlAnswered as exc:
        claim.answered_elsewhere()
        return _told(_already(exc.by, req, where, exc.at))
    except AirflowNotAllowed as exc:
        claim.release()
        return _told(
            f":no_entry: Airflow does not let the bot's own Airflow user answer {where} "
            f"({escape(exc.message)}): nothing was answered. Airflow checks the bot's identity "
            "against the task's assigned users: ask an admin to let it answer."
        )
    except Exception:
        claim.release()  # nothing was answered: another click may
        raise
    at = claim.answered()
    subject = str(req.subject)
    return answered_post(subject, where, ctx.user_id, ", ".join(chosen), at)


def _let_it_park(req: HitlRequest) -> None:
    if req.created_at is None:
        return
    waited = (datetime.now(UTC) - req.created_at).total_seconds()
    time.sleep(min(PARKED_FOR_S, max(0.0, PARKED_FOR_S - waited)))  # bounded: clocks may differ


def _answer(conf: dict[str, Any]) -> tuple[str, int, list[str]]:
    chosen = conf.get("chosen_options") or []
    return str(conf.get("task_id") or ""), int(conf.get("map_index", -1)), [str(c) for c in chosen]


def _not_assigned(ctx: Context, req: HitlRequest, where: str) -> Reply | None:
    if not req.assigned_users:
        return None
    mine = ctx.config.airflow_users.get(ctx.user_id)
    if mine is not None and any(mine in (u.id, u.name) for u in req.assigned_users):
        return None
    names = ", ".join(code(u.name or u.id) for u in req.assigned_users)
    you = (
        f"your Slack user is Airflow's {code(mine)}"
        if mine
        else "your Slack user is mapped to no Airflow user (`airflow_users:` in the config)"
    )
    return _told(f":no_entry: {where} is assigned to {names}, and {you}: nothing was sent.")


def _already(by: str | None, req: HitlRequest, where: str, at: Any = None) -> str:
    who = code(by) if by else "someone"
    when = fmt.when(at or req.responded_at) if (at or req.responded_at) else "earlier"
    return f"{where} was already answered by {who} {when}: nothing was sent."


def _told(text: str) -> Reply:
    return text_reply(text, ephemeral=True, ok=False, outcome=text[:200])


VERB = Verb(
    name="respond",
    about="Answer a task waiting for a person (Airflow 3.1+), from its buttons.",
    run=run,
    role="operator",
    typed=False,  # from the buttons of a `hitl` post or of `inbox`, which name the task
    buttons={
        BUTTON: Button(in_place=True, offered=Offer.ANSWER),
        FORM: Button(form=True, offered=Offer.ANSWER_FORM),
    },
    form=Form(FORM, build=lambda action: respond_form.build(action, FORM), read=respond_form.read),
)
