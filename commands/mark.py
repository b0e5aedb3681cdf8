"""Mark a run as successful (the "Mark success" button under a failed run), e.g. once its failure
has been dealt with by hand. Needs the ``mark`` verb."""

from __future__ import annotations

from bot.core import format as fmt
from bot.core.context import Context
from bot.core.parser import Command
from bot.core.reply import Reply, code, link, text_reply
from bot.core.verbs import Button, Offer, Verb

BUTTON = "mark"  # under a failed run, with its run id
SUCCESS = "success"


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id, run_id = cmd.dag_id or "", cmd.run_id or ""
    url = client.run_url(dag_id, run_id)
    before = client.get_run(dag_id, run_id)
    if before.state == SUCCESS:
        text = (
            f"Run {link(url, run_id)} of {code(dag_id)} on {code(ctx.deployment)} is already "
            f"{fmt.state(SUCCESS)}: nothing changed."
        )
        return text_reply(text, outcome="already success")
    after = client.mark_run(dag_id, run_id, SUCCESS)
    text = (
        f"Marked run {link(url, run_id)} of {code(dag_id)} on {code(ctx.deployment)} as "
        f"{fmt.state(after.state)} (it was {fmt.state(before.state)})."
    )
    return text_reply(
        text,
        outcome=f"marked {fmt.state(after.state)} (was {fmt.state(before.state)})",
        run_id=run_id,
    )


def describe(cmd: Command) -> str:
    return f"mark run {code(cmd.run_id or '')} of {code(cmd.dag_id or '')} as success"


VERB = Verb(
    name="mark",
    about="Mark a run as successful.",
    run=run,
    role="operator",
    writes=True,
    typed=False,  # from the "Mark success" button under a failed run, which names the run
    buttons={BUTTON: Button(offered=Offer.MARK)},
    describe=describe,
)
