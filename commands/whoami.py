"""``/airflow whoami``: what you may do, and where."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.context import Context
from bot.core.permissions import Scope
from bot.core.reply import Reply, code, context, escape, section
from bot.core.verbs import Verb


def run(ctx: Context) -> Reply:
    access = ctx.access
    lines = [f"*You are <@{ctx.user_id}>* ({code(ctx.user_id)})"]
    if access.scopes:
        order = [v.name for v in ctx.verbs if v.role is not None]
        lines += [_scope_line(scope, order) for scope in access.scopes]
    else:
        lines.append(
            "You have no permissions in this bot: ask an admin to add your user ID to a grant."
        )
    default = ctx.config.default_deployment(ctx.channel_id)
    notes = []
    if default:
        notes.append(
            f"Here in <#{ctx.channel_id}>, commands go to {code(default)} unless you name one."
        )
    if access.unchecked_groups:
        groups = ", ".join(f"<!subteam^{g}>" for g in access.unchecked_groups)
        notes.append(f"Slack could not list {groups} just now: grants through them are left out.")
    text = "\n".join(lines)
    blocks = [section(text)]
    if notes:
        blocks.append(context(*notes))
    return Reply(text=text, blocks=blocks, ephemeral=True)


def _scope_line(scope: Scope, order: Sequence[str]) -> str:
    verbs = ", ".join(code(v) for v in order if v in scope.verbs) or "nothing"
    where = (
        "every deployment"
        if scope.deployments is None
        else ", ".join(code(d) for d in sorted(scope.deployments))
    )
    channels = (
        "any channel"
        if scope.channels is None
        else ", ".join(f"<#{c}>" for c in sorted(scope.channels))
    )
    dags = "all DAGs" if scope.dags is None else "DAGs " + ", ".join(code(g) for g in scope.dags)
    via = "" if scope.via == "you" else f" (through {scope.via})"
    return f"• *{escape(scope.role)}*: {verbs} on {where}, in {channels}, {dags}{via}"


VERB = Verb(
    name="whoami",
    about="Show what you may do, and where.",
    run=run,
    needs_deployment=False,
    private=True,
)
