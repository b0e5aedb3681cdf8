"""Scheduled ETL DAGs: give the bot's listing something with a schedule and a next run."""

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

START = pendulum.datetime(2022, 1, 1, tz="UTC")

with DAG(
    dag_id="etl_daily",
    description="Daily ETL load (test DAG)",
    schedule="@daily",
    start_date=START,
    catchup=False,
    tags=["etl"],
):
    EmptyOperator(task_id="load")

with DAG(
    dag_id="etl_hourly",
    description="Hourly ETL load (test DAG)",
    schedule="@hourly",
    start_date=START,
    catchup=False,
    tags=["etl"],
):
    EmptyOperator(task_id="load")
