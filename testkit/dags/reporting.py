"""A weekly cron-scheduled DAG with a different tag than the ETL ones."""

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

with DAG(
    dag_id="reporting_weekly",
    description="Monday morning report (test DAG)",
    schedule="0 6 * * 1",
    start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
    catchup=False,
    tags=["reporting"],
):
    EmptyOperator(task_id="build_report")
