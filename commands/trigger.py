"""``/airflow trigger [<deployment>] <dag_id> [<logical_date>] [<conf-json>]``: start a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.core import format as fmt
from bot.core.context import Context
from bot.core.parser import UsageError, parse_conf
from bot.core.reply import Reply, code, context, escape, link, section
from bot.core.verbs import Arg, Button, Form, Verb
from commands.lookup import find_dag

FORM = "trigger_form"  # the Trigger… button under a DAG, and the modal it opens


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id = cmd.dag_id or ""
    # Looking first costs one read and buys a "did you mean" for a typo and a warning for a
    # paused DAG, whose run would otherwise sit queued with no explanation.
    dag = find_dag(ctx)
    started = client.trigger(
        dag_id,
        logical_date=cmd.logical_date,
        conf=cmd.conf,
        run_id=ctx.run_id,
        note=run_note(ctx),
    )
    url = client.run_url(dag_id, started.run_id)
    lines = [
        f":rocket: Triggered *{link(client.dag_url(dag_id), dag_id)}* on {code(ctx.deployment)}",
        f"Run {link(url, started.run_id)} is {fmt.state(started.state)}",
    ]
    if started.logical_date is not None:
        lines.append(f"Logical date: {fmt.when(started.logical_date)}")
    if cmd.conf:
        lines.append(f"Conf: {code(json.dumps(cmd.conf, separators=(',', ':'))[:500])}")
    blocks = [section("\n".join(lines))]
    if dag.is_paused:
        blocks.append(
            context(
                f":double_vertical_bar: {code(dag_id)} is paused: the run waits in the queue "
                f"until someone runs {code(f'/airflow unpause {ctx.deployment} {dag_id}')}."
            )
        )
    return Reply(
        text=(
            f"Triggered {escape(dag_id)} on {escape(ctx.deployment)}: "
            f"run {escape(started.run_id)} ({escape(started.state)})"
        ),
        blocks=blocks,
        outcome=f"triggered run {code(started.run_id)}",
        run_id=started.run_id,
    )


def run_note(ctx: Context) -> str:
    """Stamped on the run, so the Airflow UI shows who started it from Slack, and where."""
    note = f"Triggered from Slack by user {ctx.user_id} in channel {ctx.channel_id}"
    return note + (f", approved by user {ctx.approved_by}" if ctx.approved_by else "")


def form(action: Any) -> dict[str, Any]:
    """The modal the Trigger… button opens (``action``: the button's stored action); its
    errors are shown beside the fields (``read_form``)."""
    dag, dep = action.dag_id or "", action.deployment or ""
    return {
        "type": "modal",
        "callback_id": FORM,
        "private_metadata": action.id,
        "title": {"type": "plain_text", "text": "Trigger a DAG run"},
        "submit": {"type": "plain_text", "text": "Trigger"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Trigger {code(dag)} on {code(dep)}."),
            {
                "type": "input",
                "block_id": "logical_date",
                "optional": True,
                "label": {"type": "plain_text", "text": "Logical date"},
                "hint": {"type": "plain_text", "text": "Leave empty to let Airflow choose."},
                "element": {"type": "datetimepicker", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "conf",
                "optional": True,
                "label": {"type": "plain_text", "text": "Conf (a JSON object)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "placeholder": {"type": "plain_text", "text": '{"full_refresh": true}'},
                },
            },
        ],
    }


def read_form(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted form's logical date and conf, or the errors to show beside the fields."""
    errors: dict[str, str] = {}
    conf: dict[str, Any] = {}
    conf_text = str(_field(values, "conf").get("value") or "").strip()
    if conf_text:
        try:
            conf = parse_conf(conf_text)
        except UsageError as err:
            # Beside the field: the problem and its example, without markdown (plain text).
            errors["conf"] = err.problem.replace("`", "")
    logical_date = None
    picked = _field(values, "logical_date").get("selected_date_time")
    if picked is not None:
        try:
            logical_date = datetime.fromtimestamp(int(picked), UTC)
        except (TypeError, ValueError, OverflowError):
            errors["logical_date"] = "Pick a date and a time, or leave both empty."
    return {"logical_date": logical_date, "conf": conf}, errors


def _field(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id) or {}
    field = block.get("value") or {}
    return field if isinstance(field, dict) else {}


VERB = Verb(
    name="trigger",
    about="Start a DAG run, optionally for a logical date and with a conf JSON object.",
    run=run,
    args=(Arg.DAG, Arg.DATE, Arg.CONF),
    role="operator",
    writes=True,
    follows_run=True,
    names_run=True,
    examples=(
        "/airflow trigger prod etl_daily",
        "/airflow trigger prod etl_daily 2022-11-16T11:34:00Z",
        '/airflow trigger prod etl_daily 2022-11-16 {"full_refresh": true}',
    ),
    notes="The logical date is ISO 8601 with a time zone; a date alone means midnight UTC. "
    "Without one, Airflow picks it as it does for a manual run.",
    buttons={FORM: Button(form=True)},
    form=Form(callback_id=FORM, build=form, read=read_form),
)
