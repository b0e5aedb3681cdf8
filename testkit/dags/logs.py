"""A DAG whose failing task prints known lines first, for the tests of `/airflow logs`."""

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

LINES = 60


def _fine() -> None:
    print("logs_then_fails: the first task is fine")


def _print_then_fail() -> None:
    for n in range(1, LINES + 1):
        print(f"logs_then_fails line {n:03d}")
    # What a hostile or careless task could print: Slack must show it as text, never act on it.
    print("hostile: <!channel> <@U0EVE> <https://evil.example|click> ``` &amp; done")
    raise RuntimeError("logs_then_fails: failed on purpose after the known lines")


with DAG(
    dag_id="logs_then_fails",
    description="Prints known lines, then fails (test DAG)",
    schedule=None,
    start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="fine", python_callable=_fine) >> PythonOperator(
        task_id="print_then_fail", python_callable=_print_then_fail
    )
