"""Mark a run as successful (the "Mark success" button under a failed run, e.g. once its failure
has been dealt with by hand) or as failed (the "Mark failed" button under a run running too
long, which stops it). Needs the ``mark`` verb."""

from __future__ import annotations

from bot.core import format as fmt
from bot.core.context import Context
from bot.core.parser import Command
from bot.core.reply import Reply, code, link, text_reply
from bot.core.verbs import Button, Offer, Verb

BUTTON = "mark"  # under a failed run, or a run running long: its run id and the state to set
SUCCESS, FAILED = "success", "failed"


def target(cmd: Command) -> str:
    """The state the button asks for: success, unless it says failed."""
    return FAILED if cmd.state == FAILED else SUCCESS


def run(ctx: Context) -> Reply:
    client, cmd = ctx.airflow, ctx.command
    dag_id, run_id = cmd.dag_id or "", cmd.run_id or ""
    url = client.run_url(dag_id, run_id)
    wanted = target(cmd)
    before = client.get_run(dag_id, run_id)
    if before.state == wanted:
        text = (
            f"Run {link(url, run_id)} of {code(dag_id)} on {code(ctx.deployment)} is already "
            f"{fmt.state(wanted)}: nothing changed."
        )
        return text_reply(text, outcome=f"already {wanted}")
    after = client.mark_run(dag_id, run_id, wanted)
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
    return f"mark run {code(cmd.run_id or '')} of {code(cmd.dag_id or '')} as {target(cmd)}"


VERB = Verb(
    name="mark",
    about="Mark a run as successful, or as failed.",
    run=run,
    role="operator",
    writes=True,
    typed=False,  # from the Mark success / Mark failed buttons of alerts, which name the run
    buttons={BUTTON: Button(offered=Offer.MARK)},
    describe=describe,
)
