"""A human-in-the-loop DAG (Airflow 3.1+ only: the standard provider's ApprovalOperator), for
the tests that answer it from Slack. On Airflow 2 this file defines nothing."""

import pendulum

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2, or a provider without human-in-the-loop
    ApprovalOperator = None

if ApprovalOperator is not None:
    with DAG(
        dag_id="approval_gate",
        description="Waits for an approval, then ships (test DAG)",
        schedule=None,
        start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
    ):
        ApprovalOperator(
            task_id="approve",
            subject="Ship the release?",
            body="Release **v2** is ready: approve to ship it.",
        ) >> EmptyOperator(task_id="ship")
