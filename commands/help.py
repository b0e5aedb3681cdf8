"""``/airflow help [verb]``: what each command does and how to write it, for what you may do."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply, code, context, escape, section, text_reply
from bot.core.verbs import Arg, Verb


def run(ctx: Context) -> Reply:
    allowed = ctx.access.verbs_here(ctx.channel_id)
    topic = ctx.command.topic
    if topic:
        verb = ctx.verbs[topic]
        lines = [f"*{escape(verb.usage)}*", verb.about]
        if verb.notes:
            lines.append(verb.notes)
        lines += [code(example) for example in verb.examples]
        if topic not in allowed:
            lines.append(
                ":no_entry: You may not use it here; `/airflow whoami` shows what you may."
            )
        text = "\n".join(lines)
        return text_reply(text, ephemeral=True)
    typed = ctx.verbs.typed
    shown = [verb for verb in typed if verb.name in allowed]
    rows = "\n".join(f"{code(verb.usage)}\n      {verb.about}" for verb in shown)
    text = f"*Airflow from Slack*\n{rows}"
    notes = [
        "`&lt;deployment&gt;` may be left out where the channel has a default. "
        "`/airflow help trigger` shows examples."
    ]
    if len(shown) < len(typed):
        notes.append("Only the commands you may use here are shown.")
    return Reply(text=text, blocks=[section(text), context(*notes)], ephemeral=True)


VERB = Verb(
    name="help",
    about="Show this help, or the details of one command.",
    run=run,
    args=(Arg.TOPIC,),
    needs_deployment=False,
    private=True,
)
