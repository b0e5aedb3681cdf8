"""Two idle DAGs that pause/unpause tests may toggle without disturbing any other test."""

import pendulum

# Airflow 3 moved the authoring API to airflow.sdk and the operators to the standard provider;
# the old paths still import there but are deprecated, so prefer the new ones and fall back on 2.
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

for _suffix in ("a", "b"):
    with DAG(
        dag_id=f"pause_target_{_suffix}",
        description=f"Pause/unpause target {_suffix.upper()} (test DAG)",
        schedule=None,
        start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
    ):
        EmptyOperator(task_id="noop")
