"""Run one command and always come back with a Reply: failures are rendered, never raised."""

from __future__ import annotations

import logging
import time

from bot.airflow import AirflowError
from bot.core.context import Context
from bot.core.failures import internal_failure
from bot.core.reply import Reply

log = logging.getLogger(__name__)


def run_command(ctx: Context) -> Reply:
    cmd = ctx.command
    started = time.monotonic()
    try:
        verb = ctx.verbs[cmd.verb]
        reply = verb.run(ctx)
    except AirflowError as exc:
        reply = ctx.verbs.airflow_failure(exc, cmd, verb)
    except Exception as exc:  # noqa: BLE001 - a bug: logged under a reference, the user told so
        reply = internal_failure(exc)
    # Who did what where, and how it went; never the conf, which may carry anything.
    log.info(
        "command user=%s channel=%s verb=%s deployment=%s dag=%s ok=%s outcome=%r in %.0f ms",
        ctx.user_id,
        ctx.channel_id,
        cmd.verb,
        cmd.deployment,
        cmd.dag_id,
        reply.ok,
        reply.outcome,
        (time.monotonic() - started) * 1000,
    )
    return reply
