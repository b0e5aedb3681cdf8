"""Finding a DAG, with "did you mean" when the id is a near miss."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from bot.airflow import AirflowClient, AirflowError, AirflowNotFound, Dag
from bot.core.context import Context
from bot.core.permissions import dag_allowed

PROBE_LIMIT = 100


def find_dag(ctx: Context) -> Dag:
    """The command's DAG, or AirflowNotFound carrying the closest ids the asker may see: a
    suggestion never names a DAG outside the asker's grants for this verb, here."""
    dag_id = ctx.command.dag_id or ""
    try:
        return ctx.airflow.get_dag(dag_id)
    except AirflowNotFound as exc:
        visible = ctx.access.dag_globs(
            channel_id=ctx.channel_id, verb=ctx.command.verb, deployment=ctx.deployment
        )
        exc.suggestions = similar_dag_ids(ctx.airflow, dag_id, visible=visible)
        raise


def similar_dag_ids(
    client: AirflowClient, dag_id: str, *, visible: Sequence[str] | None
) -> tuple[str, ...]:
    """Ids close to ``dag_id`` among those matching the ``visible`` globs (None: every DAG)."""
    # A typo rarely hits both ends of an id: probe by its head, then by its tail, so a
    # deployment with thousands of DAGs costs at most two small pages, not a full listing.
    for probe in dict.fromkeys((dag_id[:3], dag_id[-4:])):
        try:
            page = client.list_dags(pattern=probe, limit=PROBE_LIMIT)
        except AirflowError:
            return ()  # suggestions are a courtesy: the not-found answer stands without them
        ids = [d.dag_id for d in page.dags if dag_allowed(d.dag_id, visible)]
        close = difflib.get_close_matches(dag_id, ids, n=3, cutoff=0.6)
        if close:
            return tuple(close)
    return ()
