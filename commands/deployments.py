"""``/airflow deployments``: the configured deployments, and this channel's default."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.reply import Reply, code, text_reply
from bot.core.verbs import Verb


def run(ctx: Context) -> Reply:
    default = ctx.config.default_deployment(ctx.channel_id)
    lines = []
    for name, dep in ctx.config.deployments.items():
        marks = []
        if name == default:
            marks.append("default here")
        if dep.confirm:
            marks.append("asks for confirmation")
        suffix = f" ({', '.join(marks)})" if marks else ""
        lines.append(f"• {code(name)}{suffix}")
    text = "*Deployments*\n" + "\n".join(lines)
    return text_reply(text, ephemeral=True)


VERB = Verb(
    name="deployments",
    about="List the Airflow deployments this bot knows.",
    run=run,
    needs_deployment=False,
    private=True,
)
