"""Amazon MWAA: an environment named in a region, reached with the bot's AWS credentials.

Two ways in, chosen per deployment by ``mwaa_mode``: ``login`` (``login.py``: a web login
token exchanged at the web server for Airflow's session, then the whole REST API over HTTPS) or
``invoke`` (``invoke.py``: every call through AWS's InvokeRestApi, within its limits). Both
learn where the web server is from AWS on the first call, not at start-up. ``aws.py`` is the
MWAA API itself. Needs the ``aws`` extra.
"""

from __future__ import annotations

from typing import Any

from bot.airflow.client import AirflowClient
from bot.airflow.mwaa.aws import MwaaApi
from bot.airflow.mwaa.invoke import AwsSigned, InvokeRestApiAdapter
from bot.airflow.mwaa.login import MwaaLoginAuth
from bot.airflow.transport import pooled_session

__all__ = ["mwaa_client"]


def mwaa_client(
    *,
    environment: str,
    region: str,
    mode: str = "login",
    api_version: str = "auto",
    connect_timeout: float = 3.05,
    read_timeout: float = 10.0,
    pool_size: int = 16,
    **options: Any,
) -> AirflowClient:
    """The deployment's client: ``options`` are ``AirflowClient``'s (name, retries, ...)."""
    api = MwaaApi(
        environment=environment,
        region=region,
        deployment=str(options.get("name", "")),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    common: dict[str, Any] = {
        "api_version": api_version,
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        "pool_size": pool_size,
        **options,
    }
    if mode == "invoke":
        adapter = InvokeRestApiAdapter(api)
        session = pooled_session(pool_size, "")
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        client = AirflowClient(locate=adapter.locate, auth=AwsSigned(), session=session, **common)
        client._can_wait = False  # InvokeRestApi cannot stream a run's state: the follower polls
        return client
    auth = MwaaLoginAuth(api, api_version=api_version, timeout=(connect_timeout, read_timeout))
    # The web server is on the internet or in the VPC: its proxy settings are those of AWS's.
    session = pooled_session(pool_size, f"https://airflow.{region}.amazonaws.com")
    return AirflowClient(locate=auth.locate, auth=auth, session=session, **common)
