"""``/airflow subscriptions``: what this channel watches, as far as the asker may see."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply, code, context, section, text_reply
from bot.core.subscriptions import Watching, event_limits, glob_within
from bot.core.verbs import Verb

# Seeing a subscription is like seeing the DAGs it names.
SEE = "list"


def run(ctx: Context) -> Reply:
    mine = ctx.book.of_channel(ctx.channel_id)
    shown = [w for w in mine if _visible(ctx, w)]
    if not shown:
        text = "This channel has no subscriptions you may see."
        if not mine:
            text = (
                "This channel has no subscriptions. "
                f"{code('/airflow subscribe <deployment> <dag-glob>')} makes one."
            )
        return text_reply(text, ephemeral=True)
    lines = [f"*Subscriptions in <#{ctx.channel_id}>*"] + [_line(w) for w in shown]
    text = "\n".join(lines)
    blocks = [section(text)]
    hidden = len(mine) - len(shown)
    if hidden:
        blocks.append(context(f"{hidden} more on DAGs you may not see."))
    return Reply(text=text, blocks=blocks, ephemeral=True)


def _visible(ctx: Context, watching: Watching) -> bool:
    allowed = ctx.access.dag_globs(
        channel_id=ctx.channel_id, verb=SEE, deployment=watching.deployment
    )
    return glob_within(watching.dag_glob, allowed)


def _line(watching: Watching) -> str:
    events = ", ".join(event_limits(watching.events, watching.options))
    if watching.declared:
        origin = "in the config file"
    else:
        origin = f"by <@{watching.created_by}>" if watching.created_by else "in Slack"
    return f"• {code(watching.dag_glob)} on {code(watching.deployment)}: {events} ({origin})"


VERB = Verb(
    name="subscriptions",
    about="List this channel's subscriptions.",
    run=run,
    needs_deployment=False,
    private=True,
)
