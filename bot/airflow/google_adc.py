"""Google Cloud Composer: Application Default Credentials, the access token sent as Bearer.

``google.auth.default()`` finds the credentials as every Google library does: a service
account key file named by ``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud``'s own, or the identity
of the machine the bot runs on (Compute Engine, Cloud Run, GKE). The library refreshes the token
(``credentials.refresh``); ``CachedToken`` decides when, as for every exchanged credential.
Needs the ``google`` extra.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.auth.credentials import Credentials

from bot.airflow.auth import JWT_DEFAULT_LIFETIME_S, CachedToken
from bot.airflow.errors import AirflowError, AirflowSignInFailed, AirflowUnavailable
from bot.airflow.transport import pooled_session

# What Composer's Airflow web server accepts (Google's own examples ask for this one scope).
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NO_CREDENTIALS = (
    "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service account's "
    "key file, or run the bot on Google Cloud as a service account"
)


class _BoundedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with the deployment's timeouts, not its 120 s."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float]) -> None:
        super().__init__(session)
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method, body, headers, timeout=timeout or self._timeout, **kwargs
        )


class GoogleAuth(CachedToken):
    def __init__(
        self, *, timeout: tuple[float, float] = (3.05, 10.0), deployment: str = ""
    ) -> None:
        super().__init__()
        self._timeout = timeout
        self._deployment = deployment
        self._credentials: Credentials | None = None
        self._request: _BoundedRequest | None = None

    def _fetch(self) -> tuple[str, float]:
        credentials = self._load()
        if self._request is None:
            # (Google's token endpoint's proxy settings, whatever the key file's token_uri)
            self._request = _BoundedRequest(
                pooled_session(2, "https://oauth2.googleapis.com"), self._timeout
            )
        try:
            credentials.refresh(self._request)  # type: ignore[no-untyped-call]
        except google.auth.exceptions.RefreshError as exc:
            raise self._refused(exc) from None
        except google.auth.exceptions.TransportError as exc:
            raise AirflowUnavailable(
                f"could not reach Google's token endpoint: {_first_line(exc)}",
                deployment=self._deployment,
            ) from None
        token = credentials.token
        if not token:
            raise AirflowUnavailable("Google issued no access token", deployment=self._deployment)
        return str(token), _seconds_left(credentials.expiry)

    def _load(self) -> Credentials:
        if self._credentials is None:
            try:
                credentials, _project = google.auth.default(scopes=list(SCOPES))
            except google.auth.exceptions.DefaultCredentialsError as exc:
                # The library's own words say which file or variable was wrong, if any.
                said = _first_line(exc)
                if exc.__cause__ is not None:
                    said += f": {_first_line(exc.__cause__)}"
                nothing = "credentials were not found" in said or "Could not automatically" in said
                found = "" if nothing else f" ({said})"
                raise AirflowSignInFailed(
                    f"{NO_CREDENTIALS}{found}", deployment=self._deployment
                ) from None
            self._credentials = credentials
        return self._credentials

    def _refused(self, exc: google.auth.exceptions.RefreshError) -> AirflowError:
        said = _first_line(exc)
        if getattr(exc, "retryable", False):
            return AirflowUnavailable(
                f"Google's token endpoint failed: {said}", deployment=self._deployment
            )
        return AirflowSignInFailed(
            f"Google refused to issue a token for {self.describe()}: {said}",
            deployment=self._deployment,
        )

    def describe(self) -> str:
        """Who the bot is to Google (never the key)."""
        email = getattr(self._credentials, "service_account_email", None)
        if isinstance(email, str) and email and email != "default":
            return f"service account {email}"
        kind = type(self._credentials).__module__ if self._credentials else "not yet loaded"
        return f"Application Default Credentials ({kind})"

    def __repr__(self) -> str:
        return "GoogleAuth(Application Default Credentials)"


def _seconds_left(expiry: dt.datetime | None) -> float:
    if expiry is None:
        return JWT_DEFAULT_LIFETIME_S
    # google-auth keeps expiry as a naive UTC datetime.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return (expiry.replace(tzinfo=None) - now).total_seconds()


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return line[:300]
