"""Clear a run's failed tasks so that the scheduler runs them again (the "Clear failed tasks"
button under a failed run). Needs the ``clear`` verb."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.parser import Command
from bot.core.reply import Reply, code, link, text_reply
from bot.core.verbs import Button, Offer, Verb

BUTTON = "clear"  # under a failed run (bot/core/follower.py)


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id, run_id = cmd.dag_id or "", cmd.run_id or ""
    cleared = client.clear_failed(dag_id, run_id)
    url = client.run_url(dag_id, run_id)
    if not cleared:
        text = f"Run {link(url, run_id)} of {code(dag_id)} has no failed tasks to clear."
        return text_reply(text, outcome="nothing to clear")
    names = ", ".join(code(t) for t in cleared[:20])
    text = (
        f":repeat: Cleared {names} in run {link(url, run_id)} of {code(dag_id)} on "
        f"{code(ctx.deployment)}: the scheduler runs them again."
    )
    return text_reply(
        text,
        outcome=f"cleared {len(cleared)} failed task(s)",
        run_id=run_id,
    )


def describe(cmd: Command) -> str:
    return f"clear the failed tasks of run {code(cmd.run_id or '')} of {code(cmd.dag_id or '')}"


VERB = Verb(
    name="clear",
    about="Clear a run's failed tasks, so that the scheduler runs them again.",
    run=run,
    role="operator",
    writes=True,
    typed=False,  # from the button under a failed run, which names the run
    follows_run=True,  # the tasks run again: the thread hears how the run ends this time
    buttons={BUTTON: Button(offered=Offer.CLEAR)},
    describe=describe,
)
