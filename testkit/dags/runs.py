"""Unscheduled DAGs whose runs end in a known state, for trigger and run-status tests."""

import json
import time
from typing import Any

import pendulum

# Airflow 3 moved the authoring API to airflow.sdk and the operators to the standard provider;
# the old paths still import there but are deprecated, so prefer the new ones and fall back on 2.
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator

START = pendulum.datetime(2022, 1, 1, tz="UTC")


def _succeed(dag_run: Any = None) -> None:
    # Long enough for a test to see the run "running", short enough to keep the suite fast;
    # a test that must see it running asks for longer with conf {"sleep": seconds}.
    conf = (dag_run.conf or {}) if dag_run is not None else {}
    time.sleep(float(conf.get("sleep", 1)))


def _explode() -> None:
    raise RuntimeError("always_fails: this task fails on purpose")


def _fail_when_asked(dag_run: Any = None) -> None:
    conf = (dag_run.conf or {}) if dag_run is not None else {}
    if conf.get("fail"):
        raise RuntimeError("fails_when_asked: asked to fail")


def _echo_conf(dag_run: Any = None, params: Any = None) -> None:
    conf = dict(dag_run.conf or {}) if dag_run is not None else {}
    print("conf:", json.dumps(conf, sort_keys=True, default=str))
    print("params:", json.dumps(dict(params or {}), sort_keys=True, default=str))


with DAG(
    dag_id="quick_success",
    description="Succeeds in about a second (test DAG)",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["test"],
):
    PythonOperator(task_id="succeed", python_callable=_succeed)

with DAG(
    dag_id="always_fails",
    description="Second task fails on purpose (test DAG)",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="prepare", python_callable=_succeed) >> PythonOperator(
        task_id="explode", python_callable=_explode, retries=0
    )

with DAG(
    dag_id="fails_when_asked",
    description='Fails when its conf says {"fail": true}, else succeeds (test DAG)',
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="maybe_fail", python_callable=_fail_when_asked, retries=0)

with DAG(
    dag_id="manual_only",
    description="Manual runs only; echoes its conf (test DAG)",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["test"],
    params={"message": "hello"},
):
    PythonOperator(task_id="echo_conf", python_callable=_echo_conf)
