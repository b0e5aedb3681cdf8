"""``/airflow unsubscribe [<deployment>] <dag-glob>``: stop what ``subscribe`` started here."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply, code, text_reply
from bot.core.subscriptions import Change
from bot.core.verbs import Arg, Verb
from commands.subscribe import outside_grants


def run(ctx: Context) -> Reply:
    glob, dep = ctx.command.glob or "", ctx.deployment
    refusal = outside_grants(ctx, glob)
    if refusal:
        return refusal
    change = ctx.book.unsubscribe(channel_id=ctx.channel_id, deployment=dep, dag_glob=glob)
    where = f"{code(glob)} on {code(dep)}"
    if change is Change.DECLARED:
        return text_reply(
            f"This channel's subscription to {where} is kept in the bot's config file "
            "(`subscriptions:`): a command cannot remove it; remove it there.",
            ok=False,
        )
    if change is Change.NOT_FOUND:
        return text_reply(
            f"This channel has no subscription to {where}: "
            f"{code('/airflow subscriptions')} lists its subscriptions.",
            ok=False,
        )
    text = f":no_bell: This channel no longer hears about runs of DAGs matching {where}."
    return Reply(text=text, blocks=text_reply(text).blocks, outcome=f"unsubscribed from {where}")


VERB = Verb(
    name="unsubscribe",
    about="Stop this channel's subscription to <dag-glob>.",
    run=run,
    args=(Arg.GLOB,),
    role="operator",
    examples=("/airflow unsubscribe prod etl_*",),
)
