"""Each managed platform, stood up on this machine in front of an Airflow (real or scripted).

- ``astro``: a local OAuth2 token endpoint, and a gateway admitting only the tokens it issued.
- ``composer``: the same endpoint as a service account's ``token_uri`` (Google's JWT grant),
  a key file for ``GOOGLE_APPLICATION_CREDENTIALS``, and a gateway admitting Google's tokens.
- ``mwaa``: a local MWAA API checking SigV4 signatures, and an HTTPS gateway with the web
  server's login endpoint, admitting only the sessions it set.

Each yields what a test drives and counts, and the environment the bot needs to find it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.airflow import AirflowClient
from testkit.airflow_harness import ADMIN_PASSWORD, ADMIN_USER, AirflowServer
from testkit.mwaa_standin import MwaaApi, WebLogin, aws_env
from testkit.platform_gateway import Gateway, Upstream, bearer
from testkit.tls import LocalCA
from testkit.token_endpoint import TokenEndpoint, service_account_key

CLIENT_ID = "astro-key-id-0001"
CLIENT_SECRET = "astro-key-secret-do-not-show-0123"
ENVIRONMENT = "chatops-env"
REGION = "eu-west-1"


def upstream_of(airflow: AirflowServer) -> Upstream:
    return Upstream(airflow.url, major=airflow.major, username=ADMIN_USER, password=ADMIN_PASSWORD)


@dataclass
class Platform:
    gateway: Gateway
    env: dict[str, str] = field(default_factory=dict)  # what the bot's process needs
    tokens: TokenEndpoint | None = None
    mwaa: MwaaApi | None = None
    login: WebLogin | None = None


def check_renewed_before_expiry(platform: Platform, client: AirflowClient) -> None:
    """A token that lives 0.4 s is renewed after half its life, before Airflow refuses it."""
    assert platform.tokens is not None
    platform.tokens.lifetime = 0.4
    client.get_dag("etl")
    time.sleep(0.25)
    client.get_dag("etl")
    assert platform.tokens.issued == 2
    assert platform.gateway.refused == 0


@contextlib.contextmanager
def astro(upstream: Upstream, *, lifetime: float = 3600.0) -> Iterator[Platform]:
    with TokenEndpoint(lifetime=lifetime, audience="astronomer-ee") as tokens:
        tokens.clients[CLIENT_ID] = CLIENT_SECRET
        with Gateway(upstream, lambda req: tokens.valid(bearer(req))) as gateway:
            yield Platform(
                gateway=gateway,
                tokens=tokens,
                env={"ASTRO_KEY_ID": CLIENT_ID, "ASTRO_KEY_SECRET": CLIENT_SECRET},
            )


def astro_config(platform: Platform, name: str = "legacy") -> str:
    assert platform.tokens is not None
    return (
        f"  {name}:\n    url: {platform.gateway.url}\n    client_id: ${{ASTRO_KEY_ID}}\n"
        f"    client_secret: ${{ASTRO_KEY_SECRET}}\n"
        f"    token_url: {platform.tokens.token_url}\n    audience: astronomer-ee\n"
    )


@contextlib.contextmanager
def composer(
    upstream: Upstream, directory: Path, *, lifetime: float = 3600.0
) -> Iterator[Platform]:
    with TokenEndpoint(lifetime=lifetime) as tokens:
        key = service_account_key(tokens, directory / "service-account.json")
        with Gateway(upstream, lambda req: tokens.valid(bearer(req))) as gateway:
            yield Platform(
                gateway=gateway,
                tokens=tokens,
                env={
                    "GOOGLE_APPLICATION_CREDENTIALS": str(key),
                    "NO_GCE_CHECK": "true",  # never ask a metadata server
                    "CLOUDSDK_CONFIG": str(directory / "no-gcloud"),
                },
            )


def composer_config(platform: Platform, name: str = "composer") -> str:
    return f"  {name}:\n    url: {platform.gateway.url}\n    auth: google\n"


@contextlib.contextmanager
def mwaa(
    upstream: Upstream, ca: LocalCA, *, airflow_version: str = "3.3.2", lifetime: float = 3600.0
) -> Iterator[Platform]:
    api = MwaaApi(
        environment=ENVIRONMENT,
        region=REGION,
        airflow_version=airflow_version,
        upstream=upstream,
    )
    with api.server, Gateway(upstream, lambda req: False, tls=ca.server_context()) as gateway:
        major = int(airflow_version.split(".")[0])
        login = WebLogin(api, gateway, major=major, lifetime=lifetime)
        yield Platform(
            gateway=gateway,
            mwaa=api,
            login=login,
            env={**aws_env(api), "REQUESTS_CA_BUNDLE": str(ca.ca_file)},
        )


def mwaa_config(name: str = "mwaa", mode: str = "login") -> str:
    return (
        f"  {name}:\n    auth: mwaa\n    environment: {ENVIRONMENT}\n    region: {REGION}\n"
        f"    mwaa_mode: {mode}\n"
    )
