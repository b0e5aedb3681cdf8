"""The few typed failures of an Airflow call, each carrying Airflow's own message.

Callers render these in one place; the text never holds a credential (the client builds it
from the status code and the response body only, never from request headers).
"""

from __future__ import annotations


class AirflowError(Exception):
    """An Airflow call failed. ``message`` is Airflow's own words where it gave any."""

    def __init__(self, message: str, *, status: int | None = None, deployment: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.deployment = deployment


class AirflowNotFound(AirflowError):
    """The DAG or run does not exist (404). ``suggestions``: close DAG ids, where looked up."""

    suggestions: tuple[str, ...] = ()


class AirflowConflict(AirflowError):
    """The action collides with existing state, e.g. a run for that logical date exists (409)."""


class AirflowNotAllowed(AirflowError):
    """Airflow refused the credentials or the permission (401 and 403 alike)."""


class AirflowSignInFailed(AirflowNotAllowed):
    """The bot could not sign in, so Airflow was not asked: a platform's token endpoint, Google
    or AWS refused the bot's credentials, or there were none to be found."""


class AirflowBadRequest(AirflowError):
    """Airflow rejected the request's content (400, 422)."""


class AirflowUnavailable(AirflowError):
    """Airflow could not be reached or failed itself: refused, timed out, or a 5xx."""


class AirflowOutcomeUnknown(AirflowError):
    """A write this request had already sent, in a process that stopped before it knew
    Airflow's answer: not sent again, since Airflow may have done it."""


class AirflowRateLimited(AirflowError):
    """Airflow (or a proxy in front of it) answered 429; ``retry_after`` is in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        deployment: str = "",
    ) -> None:
        super().__init__(message, status=status, deployment=deployment)
        self.retry_after = retry_after
