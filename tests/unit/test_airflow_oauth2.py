"""OAuth2 client credentials (Astro Deployment API keys), against a local token endpoint and a
gateway that admits only the tokens it issued, in front of a scripted Airflow 3.

Counted at the endpoint: one exchange however many calls wait for a token, expired or refused;
renewed before it expires and after a 401; the secret in no message, repr or log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.airflow import (
    AirflowClient,
    AirflowNotAllowed,
    AirflowSignInFailed,
    AirflowUnavailable,
)
from bot.airflow.clients import client_for
from bot.airflow.models import Dag
from bot.airflow.oauth2 import ClientCredentialsAuth
from bot.airflow.parse import dag_from_json
from bot.config import Deployment
from bot.config.model import ClientCredentials
from testkit.fake_http import FakeHTTPServer, Response
from testkit.platform_gateway import Upstream
from testkit.platforms import (
    CLIENT_ID,
    CLIENT_SECRET,
    Platform,
    astro,
    check_renewed_before_expiry,
)

DAG = {"dag_id": "etl", "is_paused": False}


@pytest.fixture
def airflow(server: FakeHTTPServer) -> FakeHTTPServer:
    server.route("GET", "/api/v2/version", Response(200, {"version": "3.3.2"}))
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    return server


@pytest.fixture
def platform(airflow: FakeHTTPServer) -> Iterator[Platform]:
    with astro(Upstream(airflow.url), lifetime=3600) as up:
        yield up


def deployment(platform: Platform, **changes: object) -> Deployment:
    assert platform.tokens is not None
    options: dict[str, object] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": platform.tokens.token_url,
        "audience": "astronomer-ee",
    }
    options.update(changes)
    return Deployment(
        name="legacy",
        url=platform.gateway.url,
        client_credentials=ClientCredentials(**options),  # type: ignore[arg-type]
    )


def client(platform: Platform, **changes: object) -> AirflowClient:
    return client_for(deployment(platform, **changes), backoff=0.01)


def at_once(count: int, call: object) -> list[object]:
    """``call(i)`` from ``count`` threads released together; each result or exception."""
    start = threading.Barrier(count)

    def one(i: int) -> object:
        start.wait()
        try:
            return call(i)  # type: ignore[operator]
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def get_etl(c: AirflowClient, i: int) -> Dag:
    """The DAG, each ``i`` a read of its own: identical reads in flight would be sent once
    (bot/airflow/sharing.py), and these tests want every call at the auth at once."""
    return dag_from_json(c.call("GET", "/dags/etl", params={"call": i}))


def test_the_key_is_exchanged_once_and_its_token_sent_as_bearer(platform: Platform) -> None:
    assert platform.tokens is not None
    c = client(platform, scope="read write")
    for _ in range(3):
        assert c.get_dag("etl").dag_id == "etl"
    assert platform.tokens.issued == 1
    (exchange,) = platform.tokens.server.requests_to("POST", "/oauth/token")
    assert exchange.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(p.split("=", 1) for p in exchange.body.decode().split("&")) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "audience": "astronomer-ee",
        "scope": "read+write",
    }
    assert platform.gateway.admitted == 3 and platform.gateway.refused == 0


def test_sixteen_calls_on_an_expired_token_cause_one_exchange(platform: Platform) -> None:
    assert platform.tokens is not None
    platform.tokens.lifetime = 2.0  # renewed half way through: after 1 s
    c = client(platform)
    c.get_dag("etl")
    time.sleep(1.1)
    # A slow endpoint, so that all sixteen are waiting while the one exchange is under way.
    platform.tokens.server.route("POST", "/oauth/token", lambda req: _slow(platform, req, 0.3))
    results = at_once(16, lambda i: get_etl(c, i))
    assert all(getattr(r, "dag_id", None) == "etl" for r in results), results
    assert platform.tokens.exchanges == 2  # the first token, and one renewal for all sixteen
    assert platform.gateway.refused == 0


def _slow(platform: Platform, req: object, seconds: float) -> Response:
    assert platform.tokens is not None
    time.sleep(seconds)
    return platform.tokens._client_credentials(req)  # type: ignore[arg-type]


def test_a_burst_of_401s_to_a_revoked_token_renews_it_once(platform: Platform) -> None:
    assert platform.tokens is not None
    c = client(platform)
    c.get_dag("etl")
    platform.tokens.revoke_all()  # still valid by its expiry: only Airflow's 401 says otherwise
    results = at_once(16, lambda i: get_etl(c, i))
    assert all(getattr(r, "dag_id", None) == "etl" for r in results), results
    assert platform.tokens.issued == 2
    # The calls met the revoked token together (how many were sent before the renewal is the
    # scheduler's), and each refused one was sent once more.
    assert 2 <= platform.gateway.refused <= 16
    assert platform.gateway.admitted == 1 + 16


def test_a_token_is_renewed_before_it_expires_without_a_401(platform: Platform) -> None:
    check_renewed_before_expiry(platform, client(platform))


def test_a_wrong_secret_is_refused_by_client_id_and_the_secret_never_shown(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    assert platform.tokens is not None
    wrong = "not-the-secret-but-still-secret-42"
    c = client(platform, client_secret=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(AirflowNotAllowed) as err:
        c.get_dag("etl")
    assert isinstance(err.value, AirflowSignInFailed)  # the endpoint refused, not Airflow
    assert err.value.status == 401
    assert err.value.deployment == "legacy"
    assert err.value.message == (
        f"the token endpoint {platform.tokens.token_url} refused the client ID "
        f"'{CLIENT_ID}' or its secret (invalid_client: Unauthorized)"
    )
    assert platform.gateway.admitted + platform.gateway.refused == 0  # Airflow was never asked
    shown = [str(err.value), repr(c.auth()), repr(deployment(platform, client_secret=wrong))]
    assert all(wrong not in text for text in [*shown, caplog.text])


def test_an_echoed_secret_is_masked_in_the_message(airflow: FakeHTTPServer) -> None:
    with FakeHTTPServer() as endpoint:
        endpoint.route(
            "POST",
            "/token",
            Response(400, {"error": "invalid_request", "error_description": CLIENT_SECRET}),
        )
        auth = ClientCredentialsAuth(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=f"{endpoint.url}/token"
        )
        with pytest.raises(AirflowNotAllowed) as err:
            auth.apply({})
    assert CLIENT_SECRET not in err.value.message
    assert err.value.message.endswith("(invalid_request: ***)")


def test_the_wrong_audience_is_refused(platform: Platform) -> None:
    with pytest.raises(AirflowNotAllowed, match=r"\(access_denied: Service not enabled"):
        client(platform, audience=None).get_dag("etl")


def test_a_failing_endpoint_is_unavailable_and_asked_once_by_those_waiting(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert platform.tokens is not None
    platform.tokens.fail_next(100, 503)
    c = client(platform)
    results = at_once(16, lambda i: get_etl(c, i))
    assert all(isinstance(r, AirflowUnavailable) for r in results), results
    assert {str(r) for r in results} == {
        f"exchanging the client credentials at {platform.tokens.token_url} failed with HTTP 503"
    }
    assert platform.tokens.exchanges == 1
    # Once the failure is older than the hold, the next call tries again, and recovers.
    monkeypatch.setattr("bot.airflow.auth.FAILURE_HOLD_S", 0.0)
    platform.tokens._failures.clear()
    assert c.get_dag("etl").dag_id == "etl"
    assert platform.tokens.exchanges == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Response(200, {"token_type": "Bearer"}), "its answer had no access_token"),
        (Response(200, "<html>login</html>"), "its answer had no access_token"),
        (Response(302, "", headers={"Location": "/login"}), "failed with HTTP 302"),
    ],
)
def test_an_endpoint_answering_no_token_is_unavailable(answer: Response, message: str) -> None:
    with FakeHTTPServer() as endpoint:
        endpoint.route("POST", "/token", answer)
        auth = ClientCredentialsAuth(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=f"{endpoint.url}/token"
        )
        with pytest.raises(AirflowUnavailable, match=message):
            auth.apply({})


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(86400, 86400.0), ("600", 600.0), (None, 300.0), (0, 300.0), ("soon", 300.0), (True, 300.0)],
)
def test_the_token_lives_as_long_as_the_endpoint_says(expires_in: object, lifetime: float) -> None:
    from bot.airflow.oauth2 import _lifetime

    assert _lifetime(expires_in, "opaque-token") == lifetime


def test_the_auth_names_its_client_and_endpoint_never_its_secret() -> None:
    auth = ClientCredentialsAuth(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url="https://auth.example/token"
    )
    assert repr(auth) == (
        f"ClientCredentialsAuth('{CLIENT_ID}', ***, token_url='https://auth.example/token')"
    )
    assert auth.describe() == f"client ID {CLIENT_ID} at https://auth.example/token"
