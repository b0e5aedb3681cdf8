"""``/airflow whoami``: who the bot thinks you are."""

from __future__ import annotations

from bot.reply import Reply, section
from commands.context import Context


def run(ctx: Context) -> Reply:
    text = f"You are <@{ctx.user_id}> (`{ctx.user_id}`), asking in <#{ctx.channel_id}>."
    return Reply(text=text, blocks=[section(text)], ephemeral=True)
