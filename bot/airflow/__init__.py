"""The shared Airflow REST API client: one code path for Airflow 2 (/api/v1) and 3 (/api/v2)."""

from bot.airflow.client import AirflowClient
from bot.airflow.errors import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowOutcomeUnknown,
    AirflowRateLimited,
    AirflowSignInFailed,
    AirflowUnavailable,
)
from bot.airflow.models import Dag, DagPage, DagRun, RunPage, TaskInstance

__all__ = [
    "AirflowBadRequest",
    "AirflowClient",
    "AirflowConflict",
    "AirflowError",
    "AirflowNotAllowed",
    "AirflowNotFound",
    "AirflowOutcomeUnknown",
    "AirflowRateLimited",
    "AirflowSignInFailed",
    "AirflowUnavailable",
    "Dag",
    "DagPage",
    "DagRun",
    "RunPage",
    "TaskInstance",
]
