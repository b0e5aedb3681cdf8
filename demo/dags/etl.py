"""Scheduled pipelines, as a data team would have them (they do nothing but wait)."""

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG(
    dag_id="etl_daily",
    description="Loads yesterday's orders into the warehouse",
    schedule="@daily",
    start_date=START,
    catchup=False,
    tags=["etl"],
):
    (
        EmptyOperator(task_id="extract")
        >> EmptyOperator(task_id="transform")
        >> EmptyOperator(task_id="load")
    )

with DAG(
    dag_id="reporting_weekly",
    description="Monday morning sales report",
    schedule="0 6 * * 1",
    start_date=START,
    catchup=False,
    tags=["reporting"],
):
    EmptyOperator(task_id="build_report")
