"""Finding a DAG, with "did you mean" when the id is a near miss."""

from __future__ import annotations

import difflib

from bot.airflow import AirflowClient, AirflowError, AirflowNotFound, Dag

PROBE_LIMIT = 100


def find_dag(client: AirflowClient, dag_id: str) -> Dag:
    """The DAG, or AirflowNotFound carrying the closest existing ids."""
    try:
        return client.get_dag(dag_id)
    except AirflowNotFound as exc:
        exc.suggestions = similar_dag_ids(client, dag_id)
        raise


def similar_dag_ids(client: AirflowClient, dag_id: str) -> tuple[str, ...]:
    # A typo rarely hits both ends of an id: probe by its head, then by its tail, so a
    # deployment with thousands of DAGs costs at most two small pages, not a full listing.
    for probe in dict.fromkeys((dag_id[:3], dag_id[-4:])):
        try:
            page = client.list_dags(pattern=probe, limit=PROBE_LIMIT)
        except AirflowError:
            return ()  # suggestions are a courtesy: the not-found answer stands without them
        ids = [d.dag_id for d in page.dags]
        close = difflib.get_close_matches(dag_id, ids, n=3, cutoff=0.6)
        if close:
            return tuple(close)
    return ()
