"""How the client proves who it is, against a scripted Airflow: counted token exchanges and calls.

A 401 may cost one renewal and one resend, never more; a credential the bot cannot renew (a
platform token, basic auth) is not resent at all; a refusal at ``/auth/token`` is "not allowed",
not "unavailable".
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.airflow import AirflowError, AirflowNotAllowed, AirflowUnavailable
from bot.airflow.auth import BasicAuth, BearerAuth, JwtPasswordAuth, jwt_lifetime
from testkit.airflow_client import SECRET, client, make_jwt
from testkit.fake_http import FakeHTTPServer, Request, Response, hang_up

DAG = {"dag_id": "etl", "is_paused": False}


def test_a_401_with_a_platform_token_is_not_resent(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(401, {"detail": "Token revoked"}))
    with pytest.raises(AirflowNotAllowed) as err:
        client(server).get_dag("etl")
    assert err.value.status == 401
    assert len(server.requests) == 1  # the bot cannot renew a platform token: no second try


def test_a_401_with_basic_auth_is_not_resent(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v1/dags/etl", Response(401, {"detail": "Bad password"}))
    c = client(server, token=None, username="admin", password=SECRET, api_version="v1")
    with pytest.raises(AirflowNotAllowed):
        c.get_dag("etl")
    assert len(server.requests) == 1


def test_a_jwt_is_renewed_once_per_call_however_often_airflow_answers_401(
    server: FakeHTTPServer,
) -> None:
    server.route(
        "POST", "/auth/token", Response(201, {"access_token": make_jwt(time.time() + 3600)})
    )
    server.route("GET", "/api/v2/dags/etl", Response(401, {"detail": "Signature has expired"}))
    server.route("POST", "/api/v2/dags/etl/dagRuns", Response(401, {"detail": "expired"}))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed):
        c.get_dag("etl")
    assert len(server.requests_to("GET", "/api/v2/dags/etl")) == 2
    assert len(server.requests_to("POST", "/auth/token")) == 2
    # A trigger too is resent once after a renewal (Airflow acted on nothing), never more.
    with pytest.raises(AirflowNotAllowed):
        c.trigger("etl")
    assert len(server.requests_to("POST", "/api/v2/dags/etl/dagRuns")) == 2


def test_a_jwt_renewed_after_a_401_is_kept_for_the_next_calls(server: FakeHTTPServer) -> None:
    old, new = make_jwt(time.time() + 3600), make_jwt(time.time() + 7200)
    server.route(
        "POST",
        "/auth/token",
        Response(201, {"access_token": old}),
        Response(201, {"access_token": new}),
    )

    def dag(req: Request) -> Response:
        if req.headers["Authorization"] == f"Bearer {old}":
            return Response(401, {"detail": "Signature has expired"})
        return Response(200, DAG)

    server.route("GET", "/api/v2/dags/etl", dag)
    c = client(server, token=None, username="admin", password=SECRET)
    for _ in range(3):
        assert c.get_dag("etl").dag_id == "etl"
    assert len(server.requests_to("POST", "/auth/token")) == 2
    assert len(server.requests_to("GET", "/api/v2/dags/etl")) == 4


@pytest.mark.parametrize("status", [401, 403])
def test_airflow_3_refusing_the_password_is_not_allowed(
    server: FakeHTTPServer, status: int
) -> None:
    server.route("POST", "/auth/token", Response(status, {"detail": "Invalid credentials"}))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed) as err:
        c.get_dag("etl")
    assert err.value.status == status
    assert err.value.deployment == "prod"
    assert "'admin'" in str(err.value)
    assert server.requests_to("GET", "/api/v2/dags/etl") == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Response(500, "<html>oops</html>"), "getting a token failed with HTTP 500"),
        (Response(300, {"access_token": "x"}), "getting a token failed with HTTP 300"),
        (Response(200, {"token": "x"}), "answer had no access_token"),
        (Response(200, "not json"), "answer had no access_token"),
        (Response(200, ["a list"]), "answer had no access_token"),
        (hang_up, "could not reach"),
    ],
)
def test_a_token_endpoint_that_fails_is_unavailable(
    server: FakeHTTPServer, answer: Response, message: str
) -> None:
    server.route("POST", "/auth/token", answer)
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowUnavailable, match=message) as err:
        c.get_dag("etl")
    assert err.value.deployment == "prod"
    assert server.requests_to("GET", "/api/v2/dags/etl") == []


def test_a_token_with_no_expiry_is_kept_five_minutes() -> None:
    assert jwt_lifetime("not-a-jwt") == 300.0
    assert jwt_lifetime("a.b") == 300.0
    no_exp = base64.urlsafe_b64encode(b'{"sub": "1"}').decode().rstrip("=")
    assert jwt_lifetime(f"h.{no_exp}.s") == 300.0


@pytest.mark.parametrize("sub", ["", "1", "12", "123"])
def test_jwt_lifetime_reads_any_unpadded_payload_length(sub: str) -> None:
    # base64url in a JWT drops its '=' padding; each length leaves a different remainder.
    payload = json.dumps({"sub": sub, "exp": 1000}).encode()
    encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert jwt_lifetime(f"h.{encoded}.s", now=400.0) == 600.0


def test_the_token_exchange_sends_the_configured_username_and_password(
    server: FakeHTTPServer,
) -> None:
    token = make_jwt(time.time() + 3600)
    server.route("POST", "/auth/token", Response(201, {"access_token": token}))
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    c = client(server, token=None, username="admin", password=SECRET)
    c.get_dag("etl")
    (exchange,) = server.requests_to("POST", "/auth/token")
    assert exchange.json() == {"username": "admin", "password": SECRET}
    assert server.requests_to("GET", "/api/v2/dags/etl")[0].headers["Authorization"] == (
        f"Bearer {token}"
    )


def test_credentials_show_their_user_and_never_their_secret_in_logs() -> None:
    session = requests.Session()
    shown = [
        repr(BearerAuth(SECRET)),
        repr(BasicAuth("admin", SECRET)),
        repr(
            JwtPasswordAuth(
                base_url="http://x",
                username="admin",
                password=SECRET,
                session=session,
                timeout=(1, 1),
            )
        ),
    ]
    assert shown == ["BearerAuth(***)", "BasicAuth('admin', ***)", "JwtPasswordAuth('admin', ***)"]


class FakeTime:
    """The clock the auth module reads: wall time for a JWT's exp, monotonic for renewal."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_a_jwt_is_renewed_30_seconds_before_it_expires(
    server: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    monkeypatch.setattr("bot.airflow.auth.time", clock)
    server.route("POST", "/auth/token", Response(201, {"access_token": make_jwt(clock.now + 100)}))
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    c = client(server, token=None, username="admin", password=SECRET)
    c.get_dag("etl")
    clock.now += 69.5  # 30.5 s left: still used
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 1
    clock.now += 1  # 29.5 s left: renewed before the call leaves
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 2


# -- a refused or failed sign-in: one exchange for the callers waiting on it, in its own words --


def test_a_refused_sign_in_is_one_exchange_however_many_commands_wait_for_it(
    server: FakeHTTPServer,
) -> None:
    # Slow to refuse, so every other command is queued behind the first one's exchange.
    refusal = {"error": "invalid_grant", "error_description": "Invalid credentials"}
    server.route("POST", "/auth/token", Response(401, refusal, delay=0.3))
    c = client(server, token=None, username="admin", password=SECRET)
    start = threading.Barrier(8)

    def command(i: int) -> AirflowError:
        start.wait()
        with pytest.raises(AirflowNotAllowed) as err:
            c.get_dag(f"etl_{i}")  # distinct reads: none is shared with another (sharing.py)
        return err.value

    with ThreadPoolExecutor(8) as pool:
        told = list(pool.map(command, range(8)))
    assert len(server.requests_to("POST", "/auth/token")) == 1
    words = (
        "Airflow refused the username or password for 'admin' (invalid_grant: Invalid credentials)"
    )
    assert [(str(e), e.status, e.deployment) for e in told] == [(words, 401, "prod")] * 8
    assert not any(r.path.startswith("/api/") for r in server.requests)


def test_a_failed_sign_in_is_answered_for_2_seconds_then_tried_again(
    server: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    monkeypatch.setattr("bot.airflow.auth.time", clock)
    token = make_jwt(clock.now + 3600)
    server.route(
        "POST",
        "/auth/token",
        Response(503, "<html>down</html>"),
        Response(201, {"access_token": token}),
    )
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowUnavailable, match="getting a token failed with HTTP 503"):
        c.get_dag("etl")
    clock.now += 1.9  # a command a moment later is told the same, without asking again
    with pytest.raises(AirflowUnavailable, match="getting a token failed with HTTP 503"):
        c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 1
    clock.now += 0.2  # past the hold: the endpoint is asked again, and it is back
    assert c.get_dag("etl").dag_id == "etl"
    assert len(server.requests_to("POST", "/auth/token")) == 2


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"error": "invalid_grant", "error_description": "Bad password"},
         " (invalid_grant: Bad password)"),
        ({"error": "invalid_grant"}, " (invalid_grant)"),
        ({"error": "invalid_grant", "error_description": 7}, " (invalid_grant)"),
        ({"detail": "Invalid credentials"}, ""),  # Airflow 3's own answer: no OAuth2 fields
        (["a", "list"], ""),
        ("<html>401 Authorization Required</html>", ""),  # a proxy's page, not JSON
        ({"error": "invalid_grant", "error_description": f"no user with password {SECRET}"},
         " (invalid_grant: no user with password ***)"),
    ],
)  # fmt: skip
def test_a_refused_sign_in_says_the_endpoints_oauth_error_and_description(
    server: FakeHTTPServer, answer: object, said: str
) -> None:
    server.route("POST", "/auth/token", Response(401, answer))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed) as err:
        c.get_dag("etl")
    assert str(err.value) == f"Airflow refused the username or password for 'admin'{said}"


def test_a_long_oauth_error_description_is_cut_to_200_characters(server: FakeHTTPServer) -> None:
    long = {"error": "invalid_grant", "error_description": "x" * 1000}
    server.route("POST", "/auth/token", Response(403, long))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed) as err:
        c.get_dag("etl")
    said = str(err.value).split(" (", 1)[1].removesuffix(")")
    assert said == ("invalid_grant: " + "x" * 1000)[:200]


def test_a_token_endpoint_redirecting_the_password_elsewhere_is_not_followed(
    server: FakeHTTPServer,
) -> None:
    server.route("POST", "/auth/token", Response(307, "", headers={"Location": "/elsewhere"}))
    server.route("POST", "/elsewhere", Response(200, {"access_token": make_jwt(time.time() + 60)}))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowUnavailable, match="getting a token failed with HTTP 307"):
        c.get_dag("etl")
    assert server.requests_to("POST", "/elsewhere") == []  # the password went nowhere else


def test_a_burst_of_401s_to_one_token_renews_it_once(server: FakeHTTPServer) -> None:
    # Two commands sent the same token and both got a 401: the first renews it; the second,
    # renewing after that, must keep the new token rather than throw it away and sign in again.
    server.route(
        "POST",
        "/auth/token",
        *(Response(201, {"access_token": make_jwt(time.time() + 3600 + i)}) for i in range(3)),
    )
    auth = JwtPasswordAuth(
        base_url=server.url, username="admin", password=SECRET, session=requests.Session(),
        timeout=(1, 1),
    )  # fmt: skip

    def in_other_thread(step: Callable[[], object]) -> None:
        thread = threading.Thread(target=step)
        thread.start()
        thread.join()

    auth.apply({})  # this command sends the first token
    in_other_thread(lambda: auth.apply({}))  # and so does another
    assert auth.renew()  # this one's 401: a new token
    auth.apply({})
    assert len(server.requests_to("POST", "/auth/token")) == 2

    def renew_then_send() -> None:  # the other command's 401, to the first token
        auth.renew()
        auth.apply({})

    in_other_thread(renew_then_send)
    assert len(server.requests_to("POST", "/auth/token")) == 2


def test_a_token_living_under_a_second_is_used_for_half_its_life(
    server: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    monkeypatch.setattr("bot.airflow.auth.time", clock)
    server.route("POST", "/auth/token", Response(201, {"access_token": make_jwt(clock.now + 0.5)}))
    server.route("GET", "/api/v2/dags/etl", Response(200, DAG))
    c = client(server, token=None, username="admin", password=SECRET)
    c.get_dag("etl")
    clock.now += 0.2  # 0.3 s left: still used
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 1
    clock.now += 0.1  # half its life gone: renewed before the call leaves
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 2
