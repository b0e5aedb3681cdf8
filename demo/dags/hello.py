"""A DAG that runs in a few seconds: trigger it from the console and watch it finish."""

from typing import Any

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def _greet(dag_run: Any = None) -> None:
    who = (dag_run.conf or {}).get("name", "world") if dag_run is not None else "world"
    print(f"Hello, {who}!")


with DAG(
    dag_id="hello_world",
    description='Says hello; try /airflow trigger hello_world {"name": "Ada"}',
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["demo"],
):
    PythonOperator(task_id="greet", python_callable=_greet)
