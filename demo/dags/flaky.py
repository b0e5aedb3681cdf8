"""A DAG that fails on purpose, to see what a failed run looks like in the thread."""

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def _fail() -> None:
    raise RuntimeError("the upstream file never arrived (this DAG fails on purpose)")


with DAG(
    dag_id="always_fails",
    description="Fails on purpose",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["demo"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="wait_for_file", python_callable=_fail)
