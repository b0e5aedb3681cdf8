"""A local OAuth2 token endpoint: client credentials (as Astronomer's) and Google's JWT grant.

``POST /oauth/token`` takes ``grant_type=client_credentials`` with a client ID and secret (and
an audience, when one is required); ``POST /token`` takes Google's service-account grant
(``urn:ietf:params:oauth:grant-type:jwt-bearer``): an RS256-signed JWT assertion, verified with
the public key of the key file ``service_account_key`` wrote. Both issue opaque tokens that
expire after ``lifetime`` seconds; ``valid`` says whether a token may pass a gateway. Every
exchange is counted, and the next ones can be made to fail (``fail_next``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from testkit.fake_http import FakeHTTPServer, Request, Response

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# The audience google-auth's assertions name, whatever the key file's token_uri, as Google checks.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenEndpoint:
    def __init__(self, *, lifetime: float = 3600.0, audience: str | None = None) -> None:
        self.lifetime = lifetime
        self.audience = audience  # required of client-credentials exchanges, when set
        self.clients: dict[str, str] = {}  # client ID -> secret
        self.service_accounts: dict[str, rsa.RSAPublicKey] = {}  # email -> public key
        self.exchanges = 0  # every POST, refused or not
        self.issued = 0
        self.refused: list[str] = []  # why each refused exchange was refused
        self._tokens: dict[str, float] = {}  # token -> when it expires (monotonic)
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.server = FakeHTTPServer()
        self.server.route("POST", "/oauth/token", self._client_credentials)
        self.server.route("POST", "/token", self._jwt_grant)

    @property
    def token_url(self) -> str:
        return f"{self.server.url}/oauth/token"

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures += [status] * count

    def valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def revoke_all(self) -> None:
        """Every token issued so far is refused from now on, as after a key rotation."""
        with self._lock:
            self._tokens.clear()

    # -- the grants ----------------------------------------------------------------------------

    def _client_credentials(self, req: Request) -> Response:
        failed = self._count()
        if failed is not None:
            return failed
        form = _form(req)
        if form.get("grant_type") != "client_credentials":
            return self._refuse(400, "unsupported_grant_type", "client_credentials only")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if self.clients.get(client_id) is None or not secrets.compare_digest(
            self.clients[client_id], secret
        ):
            return self._refuse(401, "invalid_client", "Unauthorized")
        if self.audience is not None and form.get("audience") != self.audience:
            return self._refuse(403, "access_denied", "Service not enabled within domain")
        return self._issue("at")

    def _jwt_grant(self, req: Request) -> Response:
        failed = self._count()
        if failed is not None:
            return failed
        form = _form(req)
        if form.get("grant_type") != JWT_BEARER:
            return self._refuse(400, "unsupported_grant_type", "jwt-bearer only")
        try:
            claims = self._verified(form.get("assertion", ""))
        except ValueError as exc:
            return self._refuse(400, "invalid_grant", str(exc))
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return self._refuse(400, "invalid_scope", "cloud-platform was not asked for")
        return self._issue("ya29")

    def _verified(self, assertion: str) -> dict[str, Any]:
        """The assertion's claims, once its signature checks with the account's public key."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = json.loads(_unb64(header_b64)), json.loads(_unb64(claims_b64))
        except (ValueError, TypeError):
            raise ValueError("Invalid JWT: not a JWT") from None
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT: not RS256")
        key = self.service_accounts.get(str(claims.get("iss")))
        if key is None:
            raise ValueError("Invalid JWT: unknown service account")
        try:
            key.verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise ValueError("Invalid JWT: wrong audience")
        if float(claims.get("exp", 0)) < time.time():
            raise ValueError("Invalid JWT: Token must be a short-lived token")
        return dict(claims)

    # -- answers -------------------------------------------------------------------------------

    def _count(self) -> Response | None:
        with self._lock:
            self.exchanges += 1
            status = self._failures.pop(0) if self._failures else None
        if status is None:
            return None
        return Response(status, "<html>upstream connect error</html>")

    def _refuse(self, status: int, error: str, description: str) -> Response:
        with self._lock:
            self.refused.append(error)
        return Response(status, {"error": error, "error_description": description})

    def _issue(self, prefix: str) -> Response:
        token = f"{prefix}.{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = time.monotonic() + self.lifetime
            self.issued += 1
        return Response(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime},
        )

    def __enter__(self) -> TokenEndpoint:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


SERVICE_ACCOUNT = "chatops@chatops-test.iam.gserviceaccount.com"


def service_account_key(
    endpoint: TokenEndpoint, path: Path, *, email: str = SERVICE_ACCOUNT
) -> Path:
    """A service account's key file whose ``token_uri`` is ``endpoint``'s; the endpoint knows
    the account's public key. Returns ``path``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    endpoint.service_accounts[email] = key.public_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "chatops-test",
        "private_key_id": secrets.token_hex(8),
        "private_key": pem,
        "client_email": email,
        "client_id": "107000000000000000001",
        "token_uri": f"{endpoint.server.url}/token",
    }
    path.write_text(json.dumps(info))
    return path


def _form(req: Request) -> dict[str, str]:
    if req.headers.get("Content-Type", "").startswith("application/json"):
        body = req.json()
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return {k: v[0] for k, v in parse_qs(req.body.decode()).items()}


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
