"""Human-in-the-loop DAGs (Airflow 3.1+ only: the standard provider's ApprovalOperator), for
the tests that answer it from Slack. On Airflow 2 this file defines nothing."""

import pendulum

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
    from airflow.sdk import DAG, Param
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

    with DAG(
        dag_id="approval_form",
        description="Waits for regions and a count, chosen in a form (test DAG)",
        schedule=None,
        start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
    ):
        HITLOperator(
            task_id="choose",
            subject="Which regions?",
            options=["eu", "us", "ap"],
            multiple=True,
            defaults=["eu"],
            params={"count": Param(2, type="integer", description="How many")},
        )
