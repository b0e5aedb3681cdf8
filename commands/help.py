"""``/airflow help [verb]``: what each command does and how to write it, for what you may do."""

from __future__ import annotations

from bot.core.parser import USAGE
from bot.core.reply import Reply, code, context, escape, section
from commands.context import Context

ABOUT = {
    "help": "Show this help, or the details of one command.",
    "deployments": "List the Airflow deployments this bot knows.",
    "list": "List DAGs, optionally only those whose id contains <filter>.",
    "status": "Show the recent runs of a DAG, or one run.",
    "trigger": "Start a DAG run, optionally for a logical date and with a conf JSON object.",
    "pause": "Pause a DAG: the scheduler stops creating runs.",
    "unpause": "Unpause a DAG.",
    "whoami": "Show what you may do, and where.",
}
EXAMPLES = {
    "list": ["/airflow list prod", "/airflow list prod etl_"],
    "status": ["/airflow status prod etl_daily"],
    "trigger": [
        "/airflow trigger prod etl_daily",
        "/airflow trigger prod etl_daily 2022-11-16T11:34:00Z",
        '/airflow trigger prod etl_daily 2022-11-16 {"full_refresh": true}',
    ],
    "pause": ["/airflow pause prod etl_daily"],
    "unpause": ["/airflow unpause prod etl_daily"],
}
NOTES = {
    "trigger": "The logical date is ISO 8601 with a time zone; a date alone means midnight UTC. "
    "Without one, Airflow picks it as it does for a manual run.",
    "list": "The deployment may be left out where the channel has a default deployment.",
}


def run(ctx: Context) -> Reply:
    allowed = ctx.access.verbs_here(ctx.channel_id)
    topic = ctx.command.topic
    if topic:
        lines = [f"*{escape(USAGE[topic])}*", ABOUT[topic]]
        if topic in NOTES:
            lines.append(NOTES[topic])
        lines += [code(example) for example in EXAMPLES.get(topic, [])]
        if topic not in allowed:
            lines.append(
                ":no_entry: You may not use it here; `/airflow whoami` shows what you may."
            )
        text = "\n".join(lines)
        return Reply(text=text, blocks=[section(text)], ephemeral=True)
    shown = [verb for verb in USAGE if verb in allowed]
    rows = "\n".join(f"{code(USAGE[verb])}\n      {ABOUT[verb]}" for verb in shown)
    text = f"*Airflow from Slack*\n{rows}"
    notes = [
        "`&lt;deployment&gt;` may be left out where the channel has a default. "
        "`/airflow help trigger` shows examples."
    ]
    if len(shown) < len(USAGE):
        notes.append("Only the commands you may use here are shown.")
    return Reply(text=text, blocks=[section(text), context(*notes)], ephemeral=True)
