"""Unscheduled DAGs for the watcher's silent-trouble events (long, queued, late).

``silent_slow`` runs one task of 45 s, one run at a time: a run that is running long, and a
second run of it waits queued behind ``max_active_runs``. ``silent_never`` is never run: a DAG
with no success by any deadline. Nothing here is scheduled, so no other test sees their runs.
"""

import time

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator

START = pendulum.datetime(2022, 1, 1, tz="UTC")
SLOW_SECONDS = 45


def _sleep() -> None:
    time.sleep(SLOW_SECONDS)


def _never() -> None:
    raise RuntimeError("silent_never is not meant to run")


with DAG(
    dag_id="silent_slow",
    description="One 45 s task, one run at a time (test DAG)",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="sleep", python_callable=_sleep)

with DAG(
    dag_id="silent_never",
    description="Never run: late by any deadline (test DAG)",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="never", python_callable=_never)
