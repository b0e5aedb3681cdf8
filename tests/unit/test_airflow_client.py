"""The Airflow client against a scripted local server: what a real Airflow won't do on demand."""

from __future__ import annotations

import base64
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from bot.airflow import (
    AirflowBadRequest,
    AirflowClient,
    AirflowConflict,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowRateLimited,
    AirflowUnavailable,
)
from bot.airflow.auth import jwt_lifetime
from testkit.airflow_client import SECRET, V2_RUN, client, make_jwt
from testkit.fake_http import FakeHTTPServer, InFlight, Request, Response

# -- API version --------------------------------------------------------------------------


def test_auto_detects_v1_when_v2_is_missing_and_asks_only_once(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v1/version", Response(200, {"version": "2.11.2"}))
    server.route("GET", "/api/v1/dags", Response(200, {"dags": [], "total_entries": 0}))
    c = client(server, api_version="auto")
    c.list_dags()
    c.list_dags()
    assert c.api_version == "v1"
    assert len(server.requests_to("GET", "/api/v2/version")) == 1
    assert len(server.requests_to("GET", "/api/v1/version")) == 1


def test_auto_detects_v2_even_when_the_platform_guards_the_version_endpoint(
    server: FakeHTTPServer,
) -> None:
    server.route("GET", "/api/v2/version", Response(401, {"detail": "Not authenticated"}))
    assert client(server, api_version="auto").api_version == "v2"


def test_a_url_that_is_not_airflow_is_named(server: FakeHTTPServer) -> None:
    with pytest.raises(AirflowUnavailable, match="neither /api/v2 nor /api/v1"):
        client(server, api_version="auto").list_dags()


def test_forced_version_never_probes(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v1/dags", Response(200, {"dags": [], "total_entries": 0}))
    client(server, api_version="v1").list_dags()
    assert [r.path for r in server.requests] == ["/api/v1/dags"]


# -- auth -----------------------------------------------------------------------------------


def test_bearer_token_is_sent(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(200, {"dag_id": "etl", "is_paused": False}))
    client(server).get_dag("etl")
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_a_netrc_entry_for_the_host_does_not_replace_the_token(
    server: FakeHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests' trust_env would send the netrc login instead of the deployment's token.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other-credential\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.route("GET", "/api/v2/dags/etl", Response(200, {"dag_id": "etl", "is_paused": False}))
    client(server).get_dag("etl")
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_the_proxy_in_the_environment_is_still_used(
    server: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHTTPServer() as proxy:
        proxy.route("GET", "/api/v2/dags/etl", Response(200, {"dag_id": "etl", "is_paused": True}))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert client(server).get_dag("etl").is_paused
    assert [r.path for r in proxy.requests] == ["/api/v2/dags/etl"]
    assert server.requests == []


def test_basic_auth_on_v1(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v1/dags/etl", Response(200, {"dag_id": "etl", "is_paused": True}))
    c = client(server, token=None, username="admin", password=SECRET, api_version="v1")
    assert c.get_dag("etl").is_paused
    expected = base64.b64encode(f"admin:{SECRET}".encode()).decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {expected}"


def test_v2_password_is_exchanged_once_for_a_jwt_and_renewed_on_401(
    server: FakeHTTPServer,
) -> None:
    first, second = make_jwt(time.time() + 3600), make_jwt(time.time() + 7200)
    server.route(
        "POST",
        "/auth/token",
        Response(201, {"access_token": first}),
        Response(201, {"access_token": second}),
    )

    def dag(req: Request) -> Response:
        if req.headers.get("Authorization") != f"Bearer {second}" and len(server.requests) > 3:
            return Response(401, {"detail": "Token expired"})
        return Response(200, {"dag_id": "etl", "is_paused": False})

    server.route("GET", "/api/v2/dags/etl", dag)
    c = client(server, token=None, username="admin", password=SECRET)
    c.get_dag("etl")
    c.get_dag("etl")  # same token reused: no second exchange
    assert len(server.requests_to("POST", "/auth/token")) == 1
    c.get_dag("etl")  # answered 401: the client renews and sends again
    assert len(server.requests_to("POST", "/auth/token")) == 2
    assert server.requests[-1].headers["Authorization"] == f"Bearer {second}"
    assert server.requests_to("POST", "/auth/token")[0].json() == {
        "username": "admin",
        "password": SECRET,
    }


def test_a_short_lived_jwt_is_kept_for_half_its_life(
    server: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_000_000.0]
    clock = type("Clock", (), {"time": lambda _: now[0], "monotonic": lambda _: now[0]})()
    monkeypatch.setattr("bot.airflow.auth.time", clock)
    server.route(
        "POST",
        "/auth/token",
        Response(201, {"access_token": make_jwt(now[0] + 5)}),  # shorter than the 30 s margin
    )
    server.route("GET", "/api/v2/dags/etl", Response(200, {"dag_id": "etl", "is_paused": False}))
    c = client(server, token=None, username="admin", password=SECRET)
    c.get_dag("etl")
    now[0] += 2.4
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 1
    now[0] += 0.2  # past half of its 5 s: renewed before the call leaves
    c.get_dag("etl")
    assert len(server.requests_to("POST", "/auth/token")) == 2


def test_wrong_password_on_v2_is_not_allowed(server: FakeHTTPServer) -> None:
    server.route("POST", "/auth/token", Response(401, {"detail": "Invalid credentials"}))
    c = client(server, token=None, username="admin", password=SECRET)
    with pytest.raises(AirflowNotAllowed, match="refused the username or password"):
        c.get_dag("etl")


def test_jwt_lifetime_reads_exp_and_tolerates_garbage() -> None:
    assert jwt_lifetime(make_jwt(1000.0), now=400.0) == 600.0
    assert jwt_lifetime("not-a-jwt") > 0


# -- retries, timeouts and faults -------------------------------------------------------------


def test_reads_retry_5xx_with_backoff_then_succeed(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        "/api/v2/dags/etl",
        Response(503, "<html>busy</html>"),
        Response(502, ""),
        Response(200, {"dag_id": "etl", "is_paused": False}),
    )
    assert client(server).get_dag("etl").dag_id == "etl"
    assert len(server.requests) == 3


def test_reads_give_up_after_bounded_retries(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(500, "<html><h1>Oops</h1></html>"))
    with pytest.raises(AirflowUnavailable, match="HTTP 500 Internal Server Error"):
        client(server, read_retries=2).get_dag("etl")
    assert len(server.requests) == 3


def test_a_trigger_is_never_sent_twice(server: FakeHTTPServer) -> None:
    server.route("POST", "/api/v2/dags/etl/dagRuns", Response(503, {"detail": "overloaded"}))
    with pytest.raises(AirflowUnavailable, match="overloaded"):
        client(server).trigger("etl")
    assert len(server.requests) == 1


def test_429_honours_a_short_retry_after_on_reads(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        "/api/v2/dags/etl",
        Response(429, {"detail": "slow down"}, {"Retry-After": "0"}),
        Response(200, {"dag_id": "etl", "is_paused": False}),
    )
    client(server).get_dag("etl")
    assert len(server.requests) == 2


def test_429_with_a_long_retry_after_is_reported_not_waited(server: FakeHTTPServer) -> None:
    server.route(
        "GET", "/api/v2/dags/etl", Response(429, {"detail": "quota"}, {"Retry-After": "120"})
    )
    started = time.monotonic()
    with pytest.raises(AirflowRateLimited) as err:
        client(server).get_dag("etl")
    assert err.value.retry_after == 120
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1


def test_429_on_a_trigger_is_rate_limited_at_once(server: FakeHTTPServer) -> None:
    server.route("POST", "/api/v2/dags/etl/dagRuns", Response(429, "", {"Retry-After": "0"}))
    with pytest.raises(AirflowRateLimited):
        client(server).trigger("etl")
    assert len(server.requests) == 1


def test_a_hanging_server_times_out_within_the_read_timeout(server: FakeHTTPServer) -> None:
    server.route("GET", "/api/v2/dags/etl", Response(200, {"dag_id": "etl"}, delay=3))
    started = time.monotonic()
    with pytest.raises(AirflowUnavailable, match=r"did not answer within 0\.5 s"):
        client(server, read_timeout=0.5).get_dag("etl")
    # a slow server is not asked again: that would only triple the user's wait
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1


def test_connection_refused_is_unavailable() -> None:
    with FakeHTTPServer() as srv:
        url = srv.url  # a port that was just free and is closed again below
    c = AirflowClient(base_url=url, token=SECRET, api_version="v2", backoff=0.01)
    with pytest.raises(AirflowUnavailable, match="connection refused") as err:
        c.list_dags()
    assert err.value.deployment == ""


# -- error bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "kind", "message"),
    [
        (
            Response(404, {"title": "DAG not found", "detail": "DAG with dag_id: 'x' not found"}),
            AirflowNotFound,
            "DAG with dag_id: 'x' not found",
        ),
        (
            Response(409, {"detail": {"reason": "Unique constraint violation", "statement": "…"}}),
            AirflowConflict,
            "Unique constraint violation",
        ),
        (
            Response(
                422,
                {
                    "detail": [
                        {
                            "type": "missing",
                            "loc": ["body", "logical_date"],
                            "msg": "Field required",
                        }
                    ]
                },
            ),
            AirflowBadRequest,
            "logical_date: Field required",
        ),
        (Response(400, {"title": "Bad Request"}), AirflowBadRequest, "Bad Request"),
        (Response(403, "Forbidden by proxy"), AirflowNotAllowed, "Forbidden by proxy"),
        (Response(401, None), AirflowNotAllowed, "HTTP 401 Unauthorized"),
        (Response(418, ["odd", "list"]), AirflowBadRequest, "HTTP 418"),
    ],
)
def test_every_error_body_shape_gives_a_typed_error_with_airflows_words(
    server: FakeHTTPServer, response: Response, kind: type[Exception], message: str
) -> None:
    server.route("POST", "/api/v2/dags/etl/dagRuns", response)
    with pytest.raises(kind) as err:
        client(server).trigger("etl")
    assert message in str(err.value)


def test_no_secret_in_errors_logs_or_reprs(
    server: FakeHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route("GET", "/api/v2/dags/etl", Response(500, "boom"))
    server.route("POST", "/auth/token", Response(403, {"detail": "bad"}))
    errors = []
    for c in (client(server), client(server, token=None, username="u", password=SECRET)):
        with pytest.raises(Exception) as err:
            c.get_dag("etl")
        errors.append(f"{err.value!s} {err.value!r} {c!r}")
    assert SECRET not in " ".join(errors) + caplog.text


# -- request shapes ---------------------------------------------------------------------------


def test_naive_logical_date_is_refused_before_any_call(server: FakeHTTPServer) -> None:
    with pytest.raises(AirflowBadRequest, match="time zone"):
        client(server).trigger("etl", logical_date=datetime(2022, 11, 16, 11, 34))
    assert server.requests == []


def test_trigger_body_fits_each_version(server: FakeHTTPServer) -> None:
    server.route("POST", "/api/v2/dags/etl/dagRuns", Response(200, V2_RUN))
    server.route("POST", "/api/v1/dags/etl/dagRuns", Response(200, V2_RUN))
    run = client(server).trigger("etl", conf={"a": 1}, note="from Slack")
    client(server, api_version="v1").trigger("etl")
    v2_body, v1_body = (r.json() for r in server.requests)
    assert v2_body == {"conf": {"a": 1}, "logical_date": None, "note": "from Slack"}
    assert v1_body == {"conf": {}}
    assert run.logical_date == datetime.fromisoformat("2022-11-16T11:34:00+00:00")
    assert run.conf == {"a": 1}


def test_list_asks_for_one_page_with_the_filter(server: FakeHTTPServer) -> None:
    server.route(
        "GET",
        "/api/v2/dags",
        Response(200, {"dags": [{"dag_id": "etl_a", "is_paused": True}], "total_entries": 41}),
    )
    page = client(server).list_dags(pattern="etl", limit=20, offset=20)
    query = server.requests[0].query
    assert query["dag_id_pattern"] == ["etl"]
    assert query["limit"] == ["20"]
    assert query["offset"] == ["20"]
    assert page.total == 41
    assert page.remaining == 20


def test_links_escape_run_ids(server: FakeHTTPServer) -> None:
    run_id = "manual__2022-11-16T11:34:00+00:00"
    assert (
        client(server)
        .run_url("etl", run_id)
        .endswith("/dags/etl/runs/manual__2022-11-16T11%3A34%3A00%2B00%3A00")
    )
    assert "dag_run_id=manual__2022-11-16T11%3A34%3A00%2B00%3A00" in client(
        server, api_version="v1"
    ).run_url("etl", run_id)


def test_no_more_calls_than_max_in_flight_reach_one_deployment(server: FakeHTTPServer) -> None:
    # A default Airflow 3 api-server hangs when more calls are in flight than its DB pool holds.
    calls = InFlight(Response(200, {"dags": [], "total_entries": 0}), hold=lambda: time.sleep(0.2))
    server.route("GET", "/api/v2/dags", calls)
    capped = client(server, max_in_flight=3)
    with ThreadPoolExecutor(12) as pool:
        # Distinct reads (identical ones in flight are sent once: bot/airflow/sharing.py).
        list(pool.map(lambda i: capped.list_dags(offset=i), range(12)))
    assert calls.peak == 3
