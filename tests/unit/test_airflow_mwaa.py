"""Amazon MWAA with real boto3: a local MWAA API that verifies each SigV4 signature with
botocore's own signer, an HTTPS web server with the login endpoint, a scripted Airflow behind.

Both ways in: ``login`` (CreateWebLoginToken, then the login endpoint's cookie) on Airflow 3
and 2, and ``invoke`` (InvokeRestApi), with its path, method, body and query mapped and its
limits answered in words.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.airflow import (
    AirflowBadRequest,
    AirflowClient,
    AirflowNotAllowed,
    AirflowNotFound,
    AirflowSignInFailed,
    AirflowUnavailable,
)
from bot.airflow.clients import client_for
from bot.airflow.mwaa.aws import NO_CREDENTIALS
from bot.config import Deployment
from bot.config.model import MwaaEnvironment
from testkit.fake_http import FakeHTTPServer, Response
from testkit.mwaa_standin import MwaaApi, aws_env
from testkit.platform_gateway import Upstream
from testkit.platforms import ENVIRONMENT, REGION, Platform, mwaa
from testkit.tls import LocalCA
from testkit.two_workers import second_worker_while_the_first_fills_the_budget

DAG = {"dag_id": "etl", "is_paused": False}
RUN = {"dag_id": "etl", "dag_run_id": "manual__1", "state": "queued", "conf": {"a": 1}}


def scripted_airflow(server: FakeHTTPServer, major: int) -> None:
    api = "/api/v2" if major >= 3 else "/api/v1"
    server.route("GET", f"{api}/version", Response(200, {"version": f"{major}.0.0"}))
    server.route("GET", f"{api}/dags/etl", Response(200, DAG))
    server.route("GET", f"{api}/dags", Response(200, {"dags": [DAG], "total_entries": 1}))
    server.route("POST", f"{api}/dags/etl/dagRuns", Response(200, RUN))
    server.route("PATCH", f"{api}/dags/etl", Response(200, {**DAG, "is_paused": True}))
    tasks = f"{api}/dags/etl/dagRuns/manual__1/taskInstances"
    server.route("GET", tasks, Response(200, {"task_instances": []}))


@pytest.fixture(params=[3, 2], ids=["af3", "af2"])
def major(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def platform(
    server: FakeHTTPServer, local_ca: LocalCA, major: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    scripted_airflow(server, major)
    with mwaa(Upstream(server.url, major=major), local_ca, airflow_version=f"{major}.10.3") as up:
        for name, value in up.env.items():
            monkeypatch.setenv(name, value)
        yield up


def client(mode: str = "login", **changes: object) -> AirflowClient:
    env: dict[str, object] = {"environment": ENVIRONMENT, "region": REGION, "mode": mode}
    env.update(changes)
    dep = Deployment(name="mwaa", url="", mwaa=MwaaEnvironment(**env))  # type: ignore[arg-type]
    return client_for(dep, backoff=0.01)


# -- login --------------------------------------------------------------------------------------


def test_a_web_login_reaches_airflow_with_its_session(platform: Platform, major: int) -> None:
    assert platform.mwaa is not None and platform.login is not None
    c = client()
    for _ in range(3):
        assert c.get_dag("etl").dag_id == "etl"
    assert c.base_url == platform.gateway.url  # https://127.0.0.1:<port>, as AWS said
    assert c.api_version == ("v2" if major >= 3 else "v1")
    # The token that located the web server was the one used to log in: one of each.
    assert platform.mwaa.calls == ["CreateWebLoginToken"]
    assert platform.login.logins == 1
    assert platform.gateway.admitted == 3 and platform.gateway.refused == 0
    assert platform.mwaa.bad_signatures == 0
    sent = platform.gateway.server.requests_to("GET", f"/api/{c.api_version}/dags/etl")[0]
    if major >= 3:
        assert sent.headers["Authorization"].startswith("Bearer ")
    else:
        assert sent.headers["Cookie"].startswith("session=")
    assert c.dag_url("etl").startswith(platform.gateway.url)


def test_a_lapsed_session_is_renewed_after_a_401(platform: Platform) -> None:
    assert platform.mwaa is not None and platform.login is not None
    c = client()
    c.get_dag("etl")
    platform.login.expire_all()
    assert c.get_dag("etl").dag_id == "etl"
    assert platform.mwaa.calls == ["CreateWebLoginToken"] * 2
    assert platform.login.logins == 2
    assert platform.gateway.refused == 1


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_airflow_3s_token_is_renewed_before_it_expires(platform: Platform) -> None:
    assert platform.login is not None
    platform.login.lifetime = 2  # the _token JWT's exp: renewed after half of it
    c = client()
    c.get_dag("etl")
    time.sleep(1.1)
    c.get_dag("etl")
    assert platform.login.logins == 2
    assert platform.gateway.refused == 0


def test_a_second_process_logging_in_waits_for_a_permit_like_any_call(
    platform: Platform, server: FakeHTTPServer, major: int
) -> None:
    # The web server's login endpoint is the deployment's own server: a second gunicorn worker
    # logging in while the first holds every permit would put one call too many on it.
    api = "/api/v2" if major >= 3 else "/api/v1"
    env = MwaaEnvironment(environment=ENVIRONMENT, region=REGION)
    dep = Deployment(name="mwaa", url="", mwaa=env, api_version=api[-2:], max_in_flight=2)
    c = client_for(dep, processes=2)  # as the bot makes it, before gunicorn forks
    front = platform.gateway.server
    early = second_worker_while_the_first_fills_the_budget(
        c, server, api=api, budget=2, front=front
    )
    sent = [f"{r.method} {r.path}" for r in early]
    assert front.peak == 2, f"{front.peak} at once at the web server: {sent} without a permit"
    assert platform.login is not None and platform.login.logins == 2  # each process logged in


def test_refused_web_login_names_the_permission(platform: Platform) -> None:
    assert platform.mwaa is not None
    platform.mwaa.denied.add("CreateWebLoginToken")
    with pytest.raises(AirflowNotAllowed) as err:
        client().get_dag("etl")
    assert err.value.message.startswith(
        f"AWS refused airflow:CreateWebLoginToken on MWAA environment '{ENVIRONMENT}' in "
        f"{REGION}: the bot's IAM identity needs that permission (on arn:aws:airflow:<region>:"
        f"<account>:role/{ENVIRONMENT}/<Airflow role, e.g. User>). AWS said: User: "
    )


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_a_login_endpoint_refusing_the_token_is_said_so(platform: Platform) -> None:
    assert platform.mwaa is not None
    platform.mwaa.take_web_token = lambda token: False  # type: ignore[method-assign]
    with pytest.raises(AirflowNotAllowed, match=r"login endpoint .* refused the web login token"):
        client().get_dag("etl")


# -- AWS credentials and signatures -----------------------------------------------------------


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_no_aws_credentials_is_said_so(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for mode in ("login", "invoke"):
        with pytest.raises(AirflowNotAllowed) as err:
            client(mode).get_dag("etl")
        assert (mode, err.value.message) == (mode, NO_CREDENTIALS)
        assert isinstance(err.value, AirflowSignInFailed)


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_a_wrong_secret_key_fails_the_signature_check(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert platform.mwaa is not None
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all-0000000000000")
    with pytest.raises(AirflowNotAllowed) as err:
        client().get_dag("etl")
    assert err.value.message.startswith(
        "AWS refused the bot's AWS credentials (InvalidSignatureException): The request "
        "signature we calculated does not match"
    )
    assert "not-the-secret-key" not in err.value.message
    assert platform.mwaa.bad_signatures == 1


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_a_signature_for_another_region_is_refused(platform: Platform) -> None:
    assert platform.mwaa is not None
    with pytest.raises(AirflowNotAllowed, match="scoped to airflow in eu-west-1, not airflow in"):
        client(region="us-east-1").get_dag("etl")


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_an_unknown_environment_is_said_so(platform: Platform) -> None:
    with pytest.raises(AirflowUnavailable) as err:
        client(environment="no-such-env").get_dag("etl")
    assert err.value.message == (
        f"AWS knows no MWAA environment 'no-such-env' in {REGION}: check the deployment's "
        "environment and region"
    )


# -- InvokeRestApi ----------------------------------------------------------------------------


def test_invoke_maps_path_method_body_and_query(platform: Platform, major: int) -> None:
    assert platform.mwaa is not None
    c = client("invoke")
    assert c.api_version == ("v2" if major >= 3 else "v1")
    assert c.base_url == platform.gateway.url  # GetEnvironment's web server, for links
    assert c.get_dag("etl").dag_id == "etl"
    assert c.list_dags(pattern="et", limit=20).total == 1
    assert c.trigger("etl", conf={"a": 1}).run_id == "manual__1"
    assert c.set_paused("etl", True).is_paused
    assert c.failed_tasks("etl", "manual__1") == []
    invoked = platform.mwaa.invoked
    assert invoked[0] == {"Path": "/version", "Method": "GET", "QueryParameters": {}}
    assert invoked[1]["Path"] == "/dags/etl"
    assert invoked[2]["QueryParameters"] == {
        "limit": "20",
        "offset": "0",
        "order_by": "dag_id",
        "dag_id_pattern": "et",
    }
    assert invoked[3]["Method"] == "POST" and invoked[3]["Path"] == "/dags/etl/dagRuns"
    assert invoked[3]["Body"]["conf"] == {"a": 1}
    assert (invoked[4]["Method"], invoked[4]["Body"]) == ("PATCH", {"is_paused": True})
    assert invoked[4]["QueryParameters"] == {"update_mask": "is_paused"}
    assert invoked[5]["QueryParameters"]["state"] == ["failed", "upstream_failed"]
    assert platform.gateway.admitted + platform.gateway.refused == 0  # no web login at all
    assert platform.mwaa.bad_signatures == 0
    assert "CreateWebLoginToken" not in platform.mwaa.calls


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_airflows_refusals_come_through_invoke(platform: Platform) -> None:
    with pytest.raises(AirflowNotFound) as err:
        client("invoke").get_dag("nope")
    assert err.value.status == 404


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_a_path_longer_than_invoke_takes_is_refused_before_sending(platform: Platform) -> None:
    assert platform.mwaa is not None
    c = client("invoke")
    c.get_dag("etl")
    before = len(platform.mwaa.invoked)
    run_id = "scheduled__2024-01-01T00:00:00+00:00_and_a_long_suffix"
    with pytest.raises(AirflowBadRequest) as err:
        c.get_run("etl", run_id)
    assert err.value.message.startswith(
        f"this call's path is {len('/dags/etl/dagRuns/' + run_id)} characters long, and "
        "MWAA's InvokeRestApi takes at most 64"
    )
    assert "set mwaa_mode: login" in err.value.message
    assert len(platform.mwaa.invoked) == before


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_airflow_slower_than_invokes_limit_is_said_so(
    platform: Platform, server: FakeHTTPServer
) -> None:
    assert platform.mwaa is not None
    platform.mwaa.invoke_limit_s = 0.2
    server.route("GET", "/api/v2/dags/slow", Response(200, DAG, delay=0.4))
    c = client("invoke")
    c.get_dag("etl")
    with pytest.raises(AirflowUnavailable) as err:
        c.get_dag("slow")
    assert err.value.message.startswith(
        "Airflow did not answer within the 10 seconds MWAA's InvokeRestApi allows a call"
    )
    assert len([i for i in platform.mwaa.invoked if i["Path"] == "/dags/slow"]) == 1  # not retried


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_an_answer_larger_than_invoke_returns_is_said_so(platform: Platform) -> None:
    assert platform.mwaa is not None
    c = client("invoke")
    c.get_dag("etl")
    platform.mwaa.max_answer_bytes = 20
    with pytest.raises(AirflowUnavailable) as err:
        c.list_dags()
    assert err.value.message.startswith(
        "Airflow's answer was larger than the 6 MB MWAA's InvokeRestApi returns"
    )


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_invoke_offers_no_state_stream_so_the_follower_polls(platform: Platform) -> None:
    assert platform.mwaa is not None
    c = client("invoke")
    assert not c.can_wait()
    with pytest.raises(AirflowUnavailable):  # and if asked anyway, nothing is sent
        list(c.wait_run("etl", "manual__1", seconds=1))
    assert all(not i["Path"].endswith("/wait") for i in platform.mwaa.invoked)


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_refused_invoke_names_the_permission(platform: Platform) -> None:
    assert platform.mwaa is not None
    platform.mwaa.denied.add("InvokeRestApi")
    with pytest.raises(AirflowNotAllowed, match=r"^AWS refused airflow:InvokeRestApi on MWAA"):
        client("invoke").get_dag("etl")


@pytest.mark.parametrize("major", [3], ids=["af3"])
def test_refused_get_environment_names_the_permission(platform: Platform) -> None:
    assert platform.mwaa is not None
    platform.mwaa.denied.add("GetEnvironment")
    with pytest.raises(AirflowNotAllowed, match=r"environment/chatops-env\)"):
        client("invoke").get_dag("etl")


def test_nothing_is_asked_of_aws_before_the_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in aws_env(MwaaApi(environment=ENVIRONMENT, region=REGION)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_MWAA", "http://127.0.0.1:9")  # nothing listens there
    for mode in ("login", "invoke"):
        c = client(mode)
        assert repr(c) == "AirflowClient(name='mwaa', base_url=None)"
        with pytest.raises(AirflowUnavailable, match="could not reach the MWAA API in eu-west-1"):
            c.get_dag("etl")
