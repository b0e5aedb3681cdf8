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
from bot.airflow.models import (
    Dag,
    DagImportError,
    DagPage,
    DagRun,
    ImportErrorPage,
    RunPage,
    TaskInstance,
    TaskPage,
)

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
    "DagImportError",
    "DagPage",
    "DagRun",
    "ImportErrorPage",
    "RunPage",
    "TaskInstance",
    "TaskPage",
]
