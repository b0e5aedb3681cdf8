"""Amazon MWAA on this machine: its API (what boto3 calls), and its web server's login endpoint.

``MwaaApi`` answers CreateWebLoginToken, GetEnvironment and InvokeRestApi for one environment,
only to requests signed with AWS Signature Version 4 for service ``airflow`` in its region by a
known key: each signature is computed again with botocore's own signer and compared. Point
boto3 at it with ``AWS_ENDPOINT_URL_MWAA`` (and ``AWS_DISABLE_HOST_PREFIX_INJECTION``: MWAA's
real endpoints are ``env.``/``api.`` host prefixes). InvokeRestApi passes calls to an
``Upstream`` Airflow, within a time limit and an answer size that tests can lower.

``WebLogin`` is the web server's side (routes added to a ``Gateway``): it takes a web login token
the API issued (once, within 60 s) and sets Airflow 3's ``_token`` cookie (a JWT) or Airflow 2's
``session`` cookie; ``admit`` lets only those through the gateway.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from testkit.fake_http import FakeHTTPServer, Request, Response
from testkit.platform_gateway import Gateway, Upstream, bearer, cookie

ACCESS_KEY = "AKIACHATOPSLOCALTEST"
SECRET_KEY = "chatops-local-secret-key-0123456789abcdef"
WEB_TOKEN_LIFE_S = 60.0
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<headers>[^,]+), ?Signature=(?P<sig>\w+)"
)


def aws_env(api: MwaaApi, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> dict[str, str]:
    """The environment that makes boto3 call ``api`` with a test key, and nothing else: no
    profile file, no instance metadata service."""
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL_MWAA": api.server.url,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


class MwaaApi:
    def __init__(
        self,
        *,
        environment: str,
        region: str,
        airflow_version: str = "3.3.2",
        upstream: Upstream | None = None,
    ) -> None:
        self.environment = environment
        self.region = region
        self.airflow_version = airflow_version
        self.upstream = upstream
        self.web_server = ""  # host[:port] of the web server (a Gateway), set by the test
        self.keys = {ACCESS_KEY: SECRET_KEY}
        self.denied: set[str] = set()  # actions answered AccessDeniedException
        self.invoke_limit_s = 10.0
        self.max_answer_bytes = 6 * 1024 * 1024
        self.calls: list[str] = []  # each action, in order
        self.bad_signatures = 0
        self.invoked: list[dict[str, Any]] = []  # each InvokeRestApi's input
        self._web_tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self.server = FakeHTTPServer()
        self.server.fallback = self._serve

    def take_web_token(self, token: str) -> bool:
        """True once for a token this API issued, within its 60 s."""
        with self._lock:
            issued = self._web_tokens.pop(token, None)
        return issued is not None and time.monotonic() - issued < WEB_TOKEN_LIFE_S

    # -- requests ------------------------------------------------------------------------------

    def _serve(self, req: Request) -> Response:
        refused = self._check_signature(req)
        if refused is not None:
            return refused
        routes = {
            ("POST", f"/webtoken/{self.environment}"): ("CreateWebLoginToken", self._web_login),
            ("GET", f"/environments/{self.environment}"): ("GetEnvironment", self._environment),
            ("POST", f"/restapi/{self.environment}"): ("InvokeRestApi", self._invoke),
        }
        action, answer = routes.get((req.method, req.path), ("", None))
        if answer is None:
            return _error(404, "ResourceNotFoundException", f"Environment not found: {req.path}")
        with self._lock:
            self.calls.append(action)
        if action in self.denied:
            return _error(
                403,
                "AccessDeniedException",
                f"User: arn:aws:iam::111122223333:user/chatops is not authorized to perform: "
                f"airflow:{action} on resource: arn:aws:airflow:{self.region}:111122223333:"
                f"role/{self.environment}/User",
            )
        return answer(req)

    def _check_signature(self, req: Request) -> Response | None:
        """None when ``req`` carries a valid SigV4 signature for this API, else AWS's refusal."""
        match = _AUTH.fullmatch(req.headers.get("Authorization", ""))
        amz_date = req.headers.get("X-Amz-Date", "")
        if match is None or not amz_date:
            return self._bad(403, "MissingAuthenticationTokenException", "Missing Authentication")
        secret = self.keys.get(match["key"])
        if secret is None:
            return self._bad(
                403, "UnrecognizedClientException", "The security token included is invalid."
            )
        if match["service"] != "airflow" or match["region"] != self.region:
            return self._bad(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to airflow in {self.region}, not "
                f"{match['service']} in {match['region']}",
            )
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs(time.time() - signed_at.timestamp()) > 300:
            return self._bad(403, "InvalidSignatureException", "Signature expired")
        names = match["headers"].split(";")
        lower = {k.lower(): v for k, v in req.headers.items()}
        again = AWSRequest(
            method=req.method,
            url=f"http://{lower.get('host', '')}{req.target or req.path}",
            data=req.body,
            headers={name: lower.get(name, "") for name in names},
        )
        again.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(match["key"], secret), "airflow", self.region)
        expected = signer.signature(
            signer.string_to_sign(again, signer.canonical_request(again)), again
        )
        if not hmac.compare_digest(expected, match["sig"]):
            return self._bad(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        return None

    def _bad(self, status: int, code: str, message: str) -> Response:
        with self._lock:
            self.bad_signatures += 1
        return _error(status, code, message)

    # -- actions -------------------------------------------------------------------------------

    def _web_login(self, req: Request) -> Response:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._web_tokens[token] = time.monotonic()
        return Response(
            200,
            {
                "WebToken": token,
                "WebServerHostname": self.web_server,
                "IamIdentity": "user/chatops",
                "AirflowIdentity": "assumed-role/chatops",
            },
        )

    def _environment(self, req: Request) -> Response:
        return Response(
            200,
            {
                "Environment": {
                    "Name": self.environment,
                    "Status": "AVAILABLE",
                    "AirflowVersion": self.airflow_version,
                    "WebserverUrl": self.web_server,
                }
            },
        )

    def _invoke(self, req: Request) -> Response:
        body = req.json() or {}
        with self._lock:
            self.invoked.append(body)
        path = str(body.get("Path", ""))
        if len(path) > 64:
            return _error(
                400,
                "ValidationException",
                "1 validation error detected: Value at 'path' failed to satisfy constraint: "
                "Member must have length less than or equal to 64",
            )
        assert self.upstream is not None, "InvokeRestApi needs an upstream Airflow"
        query = urlencode(body.get("QueryParameters") or {}, doseq=True)
        target = f"{self.upstream.prefix}{path}{'?' + query if query else ''}"
        payload = b"" if "Body" not in body else json.dumps(body["Body"]).encode()
        started = time.monotonic()
        resp = self.upstream.send(
            str(body.get("Method", "GET")),
            target,
            payload,
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        if time.monotonic() - started > self.invoke_limit_s:
            # How MWAA says so is not documented: a gateway's 504, as Airflow's own answer.
            return _rest_api_error(504, {"detail": "Endpoint request timed out"})
        try:
            answer = resp.json() if resp.content else None
        except ValueError:
            answer = {"detail": resp.text[:200]}
        if len(json.dumps(answer)) > self.max_answer_bytes:
            return _error(
                400,
                "ValidationException",
                f"Response payload size exceeded maximum allowed payload size "
                f"({self.max_answer_bytes} bytes).",
            )
        if resp.status_code >= 400:
            return _rest_api_error(resp.status_code, answer)
        return Response(200, {"RestApiStatusCode": resp.status_code, "RestApiResponse": answer})


class WebLogin:
    """The web server's login endpoint, on ``gateway``: Airflow 3's, or Airflow 2's."""

    def __init__(
        self, api: MwaaApi, gateway: Gateway, *, major: int = 3, lifetime: float = 3600.0
    ) -> None:
        self.api = api
        self.major = major
        self.lifetime = lifetime
        self.logins = 0
        self._sessions: dict[str, float] = {}
        self._lock = threading.Lock()
        ours, other = "/pluginsv2/aws_mwaa/login", "/aws_mwaa/login"
        if major < 3:
            ours, other = other, ours
        gateway.server.route("POST", ours, self._login)
        # The other Airflow's login is no route here: 404, as Airflow's web server says.
        gateway.server.route("POST", other, Response(404, {"detail": "Not Found"}))
        gateway.admit = self.admit
        api.web_server = urlsplit(gateway.url).netloc

    def _login(self, req: Request) -> Response:
        token = parse_qs(req.body.decode()).get("token", [""])[0]
        if not self.api.take_web_token(token):
            return Response(403, {"detail": "invalid or expired web login token"})
        expires = time.time() + self.lifetime
        if self.major >= 3:
            name, value = "_token", _jwt({"sub": "mwaa-user", "exp": int(expires)})
        else:
            name, value = "session", secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[value] = expires
            self.logins += 1
        return Response(
            302,
            "",
            headers={
                "Location": "/",
                "Set-Cookie": f"{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax",
            },
        )

    def admit(self, req: Request) -> bool:
        value = bearer(req) if self.major >= 3 else cookie(req, "session")
        with self._lock:
            expires = self._sessions.get(value)
        return expires is not None and time.time() < expires

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS512', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(16)}"


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"message": message}, headers={"x-amzn-ErrorType": code})


def _rest_api_error(status: int, answer: Any) -> Response:
    code = "RestApiServerException" if status >= 500 else "RestApiClientException"
    return Response(
        400,
        {
            "message": f"Airflow answered {status}",
            "RestApiStatusCode": status,
            "RestApiResponse": answer,
        },
        headers={"x-amzn-ErrorType": code},
    )
