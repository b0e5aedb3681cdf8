"""Cloud Composer's sign-in: google-auth's Application Default Credentials, for real, with a
service account key whose ``token_uri`` is a local endpoint that checks the signed assertion
with the key's public key; a gateway admits only the tokens that endpoint issued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.airflow import (
    AirflowClient,
    AirflowNotAllowed,
    AirflowSignInFailed,
    AirflowUnavailable,
)
from bot.airflow.clients import client_for
from bot.airflow.google_adc import NO_CREDENTIALS, GoogleAuth
from bot.config import Deployment
from testkit.fake_http import FakeHTTPServer, Response
from testkit.platform_gateway import Upstream
from testkit.platforms import Platform, check_renewed_before_expiry, composer
from testkit.token_endpoint import SERVICE_ACCOUNT

DAG = {"dag_id": "etl", "is_paused": False}


@pytest.fixture
def platform(
    server: FakeHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    server.route("GET", "/api/v2/version", Response(200, {"version": "3.3.2"}))
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    with composer(Upstream(server.url), tmp_path) as up:
        for name, value in up.env.items():
            monkeypatch.setenv(name, value)
        yield up


def client(platform: Platform) -> AirflowClient:
    dep = Deployment(name="composer", url=platform.gateway.url, google=True)
    return client_for(dep, backoff=0.01)


def test_a_service_account_key_signs_in_and_its_token_is_sent_as_bearer(
    platform: Platform,
) -> None:
    assert platform.tokens is not None
    c = client(platform)
    for _ in range(3):
        assert c.get_dag("etl").dag_id == "etl"
    assert platform.tokens.issued == 1
    (grant,) = platform.tokens.server.requests_to("POST", "/token")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in grant.body
    assert platform.gateway.admitted == 3 and platform.gateway.refused == 0
    assert c.auth().describe() == f"service account {SERVICE_ACCOUNT}"  # type: ignore[attr-defined]


def test_the_library_refreshes_the_token_before_it_expires(platform: Platform) -> None:
    check_renewed_before_expiry(platform, client(platform))


def test_a_revoked_token_is_refreshed_after_airflow_answers_401(platform: Platform) -> None:
    assert platform.tokens is not None
    c = client(platform)
    c.get_dag("etl")
    platform.tokens.revoke_all()
    assert c.get_dag("etl").dag_id == "etl"
    assert platform.tokens.issued == 2
    assert platform.gateway.refused == 1


def test_a_key_signed_by_another_key_pair_is_refused_by_google(platform: Platform) -> None:
    assert platform.tokens is not None
    # The endpoint knows the account by another public key: the signature cannot check.
    platform.tokens.service_accounts[SERVICE_ACCOUNT] = rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    ).public_key()
    with pytest.raises(AirflowNotAllowed) as err:
        client(platform).get_dag("etl")
    assert err.value.message == (
        f"Google refused to issue a token for service account {SERVICE_ACCOUNT}: "
        "invalid_grant: Invalid JWT Signature."
    )
    assert platform.tokens.refused == ["invalid_grant"]
    assert platform.gateway.admitted + platform.gateway.refused == 0


def test_the_private_key_is_in_no_message(platform: Platform) -> None:
    assert platform.tokens is not None
    key = json.loads(Path(platform.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    platform.tokens.service_accounts.clear()
    c = client(platform)
    with pytest.raises(AirflowNotAllowed) as err:
        c.get_dag("etl")
    body = key["private_key"].split("-----")[2].strip()
    shown = str(err.value) + repr(c.auth()) + repr(c)
    assert body[:40] not in shown and key["private_key_id"] not in shown


def test_no_google_credentials_is_said_so(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    with pytest.raises(AirflowNotAllowed) as err:
        client(platform).get_dag("etl")
    assert err.value.message == NO_CREDENTIALS
    assert isinstance(err.value, AirflowSignInFailed)  # nothing asked Airflow


def test_a_missing_key_file_is_named(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    with pytest.raises(AirflowNotAllowed) as err:
        client(platform).get_dag("etl")
    assert err.value.message.startswith(NO_CREDENTIALS)
    assert "/nonexistent/key.json" in err.value.message


def test_a_key_file_that_is_no_key_is_said_so(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"type": "service_account", "client_email": "x@y"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(broken))
    with pytest.raises(AirflowNotAllowed, match="missing fields"):
        client(platform).get_dag("etl")


def test_a_failing_token_endpoint_is_unavailable(platform: Platform) -> None:
    assert platform.tokens is not None
    platform.tokens.fail_next(10, 503)
    with pytest.raises(AirflowUnavailable, match=r"^Google's token endpoint failed"):
        client(platform).get_dag("etl")
    assert 1 <= platform.tokens.exchanges <= 3  # google-auth retries a 503 itself, a bounded few


def test_an_unreachable_token_endpoint_is_unavailable(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "private_key": pem,
                "private_key_id": "k",
                "client_email": SERVICE_ACCOUNT,
                "token_uri": "http://127.0.0.1:9/token",  # nothing listens on port 9
            }
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        auth = GoogleAuth(timeout=(1.0, 1.0), deployment="composer")
        with pytest.raises(AirflowUnavailable, match=r"^could not reach Google's token endpoint"):
            auth.apply({})
    assert repr(auth) == "GoogleAuth(Application Default Credentials)"
