"""``/airflow inbox [<deployment>] [<filter>]``: the tasks waiting for a person (Airflow 3.1+)
that the asker may answer, each with its buttons, to the asker alone. Needs no grant: it shows only
tasks on DAGs where the asker has ``respond``, and, where a task names assigned users, only
if the asker is mapped to one of them (``airflow_users:``)."""

from __future__ import annotations

from bot.airflow.hitl import HitlRequest
from bot.core.context import Context
from bot.core.hitl import HitlLinks, request_post, version_refusal
from bot.core.reply import Block, Intent, Reply, code, divider, section, text_reply
from bot.core.verbs import Arg, Verb
from commands import respond

SHOWN = 10  # Slack keeps a message to 50 blocks; each request takes up to five


def run(ctx: Context) -> Reply:
    client, dep = ctx.airflow, ctx.deployment
    version = client.hitl_refusal()
    if version is not None:
        return _private(version_refusal(dep, version))
    page = client.hitl_waiting()
    part = ctx.command.filter or ""
    mine = [r for r in page.requests if part in r.dag_id and _may_answer(ctx, r)]
    if not mine:
        text = f":inbox_tray: Nothing on {code(dep)} is waiting for an answer from you."
        return text_reply(text, ephemeral=True)
    more = len(mine) - SHOWN
    head = f":inbox_tray: Waiting for an answer from you on {code(dep)}: {len(mine)}"
    if page.total > len(page.requests):
        head += f" among the first {len(page.requests)} of {page.total} waiting"
    blocks: list[Block] = [section(head)]
    intents: list[Intent] = []
    for req in mine[:SHOWN]:
        links = HitlLinks(client.dag_url(req.dag_id), client.run_url(req.dag_id, req.run_id))
        post = request_post(dep, req, links, buttons=respond.BUTTONS)
        blocks += [divider(), *_renumbered(post.blocks, len(intents))]
        intents += post.intents
    if more > 0:
        blocks.append(section(f"…and {more} more: answer these first, or open Airflow."))
    return Reply(text=head, blocks=blocks, ephemeral=True, intents=tuple(intents))


def _may_answer(ctx: Context, req: HitlRequest) -> bool:
    allowed = ctx.access.check(channel_id=ctx.channel_id, verb=respond.VERB.name,
                               deployment=ctx.deployment, dag_id=req.dag_id).allowed  # fmt: skip
    if not allowed or req.takes_form:
        return allowed
    mine = ctx.config.airflow_users.get(ctx.user_id)
    return not req.assigned_users or any(mine in (u.id, u.name) for u in req.assigned_users)


def _renumbered(blocks: list[Block], offset: int) -> list[Block]:
    """A post's blocks, its buttons' ``intent:N`` values moved past the intents before it."""
    out = []
    for block in blocks:
        elements = [
            {**e, "value": f"intent:{int(e['value'].split(':')[1]) + offset}"}
            if str(e.get("value", "")).startswith("intent:")
            else e
            for e in block.get("elements") or []
        ]
        out.append({**block, "elements": elements} if "elements" in block else block)
    return out


def _private(reply: Reply) -> Reply:
    return Reply(text=reply.text, blocks=reply.blocks, ephemeral=True, ok=reply.ok)


VERB = Verb(
    name="inbox",
    about="The tasks waiting for an answer from you (Airflow 3.1+), with their buttons.",
    run=run,
    args=(Arg.FILTER,),
    private=True,
    examples=("/airflow inbox prod", "/airflow inbox prod etl"),
)
