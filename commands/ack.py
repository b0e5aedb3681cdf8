"""Acknowledge a failure incident: the **Acknowledge** button on its message. The message then
says who is on it, and since when, through its later updates (bot/core/incidents.py). Needs
``status`` on the DAG: whoever may see it may say they are on it. Audited like every verb."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.core.alerts import from_message
from bot.core.context import Context
from bot.core.incidents import shown
from bot.core.reply import Reply, code, text_reply
from bot.core.verbs import Button, Offer, Verb

BUTTON = "ack"


def run(ctx: Context) -> Reply:
    dag_id = ctx.command.dag_id or ""
    incident = ctx.incident_acks.acknowledge_incident(
        ctx.channel_id, ctx.deployment, dag_id, by=ctx.user_id, at=datetime.now(UTC)
    )
    if incident is None:
        text = (
            f"{code(dag_id)} on {code(ctx.deployment)} has no open incident here: it has "
            "recovered, so there is nothing to acknowledge."
        )
        return text_reply(text, ephemeral=True, outcome="nothing open")
    # In place of the clicked message: the incident's message as it now stands.
    return dataclasses.replace(from_message(shown(incident.message)), outcome="acknowledged")


VERB = Verb(
    name="ack",
    about="Acknowledge an incident: its message says who is on it.",
    run=run,
    granted_as="status",  # no grant of its own: whoever may see the DAG
    typed=False,  # from the Acknowledge button of an incident's message
    buttons={BUTTON: Button(offered=Offer.ACK, in_place=True)},
)
