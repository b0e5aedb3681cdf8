"""OAuth2 client credentials (RFC 6749, 4.4): a client ID and secret exchanged for a bearer token.

Astronomer's Deployment API keys are such clients (``https://auth.astronomer.io/oauth/token``,
audience ``astronomer-ee``, tokens valid about 24 hours); any OAuth2 server that issues tokens
Airflow accepts works alike. The token is cached and renewed as ``CachedToken`` says: before it
expires, after a 401, and once however many calls wait for it.
"""

from __future__ import annotations

import requests

from bot.airflow.auth import JWT_DEFAULT_LIFETIME_S, CachedToken, exchange, jwt_lifetime
from bot.airflow.errors import AirflowSignInFailed
from bot.airflow.transport import pooled_session


class ClientCredentialsAuth(CachedToken):
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        audience: str | None = None,
        scope: str | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
        deployment: str = "",
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url
        self._audience = audience
        self._scope = scope
        self._timeout = timeout
        # Its own session: the token endpoint is another host than Airflow, with its own proxy.
        self._session = session or pooled_session(2, token_url)
        self._deployment = deployment

    def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        if self._audience:
            form["audience"] = self._audience
        if self._scope:
            form["scope"] = self._scope
        body = exchange(
            self._session,
            self.token_url,
            # A form, as RFC 6749 says; Astronomer's server (Auth0) takes it as it takes JSON.
            data=form,
            headers={"Accept": "application/json"},
            timeout=self._timeout,
            deployment=self._deployment,
            refused=(
                f"the token endpoint {self.token_url} refused the client ID {self.client_id!r} "
                "or its secret"
            ),
            failed=f"exchanging the client credentials at {self.token_url}",
            secret=self._secret,
            refusals=(400, 401, 403),  # invalid_client, invalid_grant, invalid_scope ...
            refused_as=AirflowSignInFailed,  # Airflow was not asked
        )
        token = str(body["access_token"])
        return token, _lifetime(body.get("expires_in"), token)

    def describe(self) -> str:
        """What doctor says it signed in with: never the secret."""
        return f"client ID {self.client_id} at {self.token_url}"

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth({self.client_id!r}, ***, token_url={self.token_url!r})"


def _lifetime(expires_in: object, token: str) -> float:
    """Seconds the token lives: ``expires_in`` when given, else a JWT's ``exp``, else 5 min."""
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        try:
            seconds = float(expires_in)
        except ValueError:
            seconds = -1.0
        if seconds > 0:
            return seconds
    return jwt_lifetime(token) if token.count(".") == 2 else JWT_DEFAULT_LIFETIME_S
