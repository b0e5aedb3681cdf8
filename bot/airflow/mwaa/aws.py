"""The MWAA API through boto3: the calls the bot makes, and AWS's failures in words to act on.

Credentials are boto3's to find (environment variables, a profile, the host's IAM role). The
client never retries by itself: InvokeRestApi carries triggers, which must never be sent twice;
the transport above retries reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from bot.airflow.errors import (
    AirflowBadRequest,
    AirflowError,
    AirflowRateLimited,
    AirflowSignInFailed,
    AirflowUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_mwaa.client import MWAAClient

NO_CREDENTIALS = (
    "no AWS credentials found: give the bot's host an IAM role, or set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in its environment"
)
# MWAA answers InvokeRestApi within this many seconds, or fails the call; and returns at
# most this much of Airflow's answer.
INVOKE_LIMIT_S = 10.0
MAX_ANSWER = "6 MB"
_CREDENTIALS_REFUSED = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
    "IncompleteSignature",
}
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "Throttling"}


@dataclass(frozen=True)
class WebLogin:
    hostname: str
    token: str


class MwaaApi:
    """One MWAA environment's API, with the deployment's names for its messages."""

    def __init__(
        self,
        *,
        environment: str,
        region: str,
        deployment: str = "",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
    ) -> None:
        self.environment = environment
        self.region = region
        self.deployment = deployment
        self._config = botocore.config.Config(
            region_name=region,
            connect_timeout=connect_timeout,
            # MWAA ends an InvokeRestApi call itself after 10 s: wait a little longer for its
            # own answer, which says what happened.
            read_timeout=max(read_timeout, INVOKE_LIMIT_S + 5),
            retries={"total_max_attempts": 1},
            user_agent_extra="airflow-chatops",
        )
        self._client: MWAAClient | None = None
        self._lock = threading.Lock()

    def _mwaa(self) -> MWAAClient:
        # A boto3 session is not thread-safe, its clients are: make one, once.
        with self._lock:
            if self._client is None:
                self._client = boto3.session.Session().client("mwaa", config=self._config)
            return self._client

    def web_login(self) -> WebLogin:
        """A web login token (valid 60 s) and the web server's host name."""
        try:
            answer = self._mwaa().create_web_login_token(Name=self.environment)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.failure(exc, "CreateWebLoginToken") from None
        except botocore.exceptions.ClientError as exc:
            raise self.failure(exc, "CreateWebLoginToken") from None
        return WebLogin(hostname=_host(answer["WebServerHostname"]), token=answer["WebToken"])

    def web_server(self) -> tuple[str, str]:
        """The web server's host name and the Airflow version, as GetEnvironment says."""
        try:
            env = self._mwaa().get_environment(Name=self.environment)["Environment"]
        except botocore.exceptions.BotoCoreError as exc:
            raise self.failure(exc, "GetEnvironment") from None
        except botocore.exceptions.ClientError as exc:
            raise self.failure(exc, "GetEnvironment") from None
        return _host(env.get("WebserverUrl", "")), str(env.get("AirflowVersion", ""))

    def invoke(
        self, method: str, path: str, body: dict[str, Any] | None, query: dict[str, Any]
    ) -> tuple[int, Any]:
        """Airflow's status and JSON answer to one REST call through InvokeRestApi.

        Airflow's own refusals (MWAA's RestApiClientException and RestApiServerException)
        are answers too; everything else that fails is raised as an ``AirflowError``.
        """
        params: dict[str, Any] = {
            "Name": self.environment,
            "Path": path,
            "Method": method,
            "QueryParameters": query,
        }
        if body is not None:
            params["Body"] = body
        try:
            answer = self._mwaa().invoke_rest_api(**params)
        except botocore.exceptions.ClientError as exc:
            # Airflow answered, with an error: MWAA passes on its status and body.
            error: dict[str, Any] = dict(exc.response)
            if error.get("Error", {}).get("Code") in ("RestApiClientException",
                                                      "RestApiServerException"):  # fmt: skip
                status = error.get("RestApiStatusCode")
                if isinstance(status, int):
                    return status, error.get("RestApiResponse")
            raise self.failure(exc, "InvokeRestApi") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self.failure(exc, "InvokeRestApi") from None
        return int(answer.get("RestApiStatusCode", 200)), answer.get("RestApiResponse")

    def failure(self, exc: Exception, action: str) -> AirflowError:
        """AWS's failure of ``action`` as the bot's typed error, in words to act on."""
        dep = self.deployment
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return AirflowSignInFailed(NO_CREDENTIALS, deployment=dep)
        if isinstance(exc, ReadTimeoutError):
            return AirflowUnavailable(too_slow(action), deployment=dep)
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return AirflowUnavailable(
                f"could not reach the MWAA API in {self.region} ({type(exc).__name__})",
                deployment=dep,
            )
        if not isinstance(exc, botocore.exceptions.ClientError):
            return AirflowUnavailable(f"{action} failed: {type(exc).__name__}", deployment=dep)
        code = str(exc.response.get("Error", {}).get("Code", ""))
        said = _clip(str(exc.response.get("Error", {}).get("Message", "")))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = f"MWAA environment {self.environment!r} in {self.region}"
        if code == "AccessDeniedException":
            return AirflowSignInFailed(
                f"AWS refused airflow:{action} on {where}: the bot's IAM identity needs that "
                f"permission ({_resource(action, self.environment)}). AWS said: {said}",
                status=403,
                deployment=dep,
            )
        if code in _CREDENTIALS_REFUSED:
            return AirflowSignInFailed(
                f"AWS refused the bot's AWS credentials ({code}): {said}",
                status=status or 403,
                deployment=dep,
            )
        if code == "ResourceNotFoundException":
            return AirflowUnavailable(
                f"AWS knows no {where}: check the deployment's environment and region",
                status=404,
                deployment=dep,
            )
        if code in _THROTTLED:
            return AirflowRateLimited(f"AWS is throttling {action}: {said}", deployment=dep)
        # How MWAA words its two limits is not documented: recognise either by its words.
        if _timed_out(said):
            return AirflowUnavailable(too_slow(action), status=status, deployment=dep)
        if _too_large(said):
            return AirflowUnavailable(TOO_LARGE, deployment=dep)
        if code == "ValidationException":
            hint = " (update the environment in the MWAA console)" if "Update" in said else ""
            return AirflowBadRequest(f"MWAA refused {action}: {said}{hint}", deployment=dep)
        return AirflowUnavailable(f"{action} on {where} failed: {code} {said}".strip(),
                                  status=status, deployment=dep)  # fmt: skip


def _resource(action: str, environment: str) -> str:
    if action == "GetEnvironment":
        return f"on arn:aws:airflow:<region>:<account>:environment/{environment}"
    return f"on arn:aws:airflow:<region>:<account>:role/{environment}/<Airflow role, e.g. User>"


TOO_LARGE = (
    f"Airflow's answer was larger than the {MAX_ANSWER} MWAA's InvokeRestApi returns; ask for "
    "less (a narrower filter), or set mwaa_mode: login for this deployment"
)


def too_slow(action: str) -> str:
    if action != "InvokeRestApi":
        return f"{action} did not answer in time"
    return (
        f"Airflow did not answer within the {INVOKE_LIMIT_S:g} seconds MWAA's InvokeRestApi "
        "allows a call; try again when Airflow is less busy, or set mwaa_mode: login for "
        "this deployment"
    )


def _timed_out(said: str) -> bool:
    text = said.lower()
    return "timed out" in text or "timeout" in text


def _too_large(said: str) -> bool:
    text = said.lower()
    return "payload size" in text or "too large" in text


def _host(value: str) -> str:
    """A host name, whether AWS gave it bare or as a URL."""
    host = value.strip().removeprefix("https://").removeprefix("http://")
    return host.split("/", 1)[0]


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
