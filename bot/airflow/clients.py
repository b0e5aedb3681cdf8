"""One Airflow client per configured deployment, built from the config.

The managed platforms' modules import Google's or Amazon's library, so they are imported only
for a deployment that needs them: a bot without the extras runs every other deployment.
"""

from __future__ import annotations

from typing import Any

from bot.airflow import AirflowClient, dyno
from bot.airflow.budget import budget_for
from bot.airflow.dyno_reads import DynoReads
from bot.airflow.sharing import SharedReads
from bot.config import Config, Deployment


def client_for(
    dep: Deployment,
    *,
    pool_size: int = 32,
    processes: int = 1,
    read_timeout: float | None = None,
    **options: Any,
) -> AirflowClient:
    """``options`` are ``AirflowClient``'s (doctor asks for no retries, say)."""
    common: dict[str, Any] = {
        "name": dep.name,
        "api_version": dep.api_version,
        "read_timeout": dep.timeout if read_timeout is None else read_timeout,
        "pool_size": pool_size,
        "max_in_flight": dep.max_in_flight,
        # max_in_flight is the deployment's budget for the whole dyno: one budget that the
        # processes gunicorn forks from this one share (bot/airflow/budget.py), as they share
        # the reads they have in flight (bot/airflow/dyno_reads.py).
        "budget": budget_for(dep.name, dep.max_in_flight, processes=processes),
        "reads": SharedReads(_across(dep.name) if processes > 1 else None),
        **options,
    }
    timeout = (common.get("connect_timeout", 3.05), common["read_timeout"])
    if dep.client_credentials is not None:
        from bot.airflow.oauth2 import ClientCredentialsAuth

        oauth = dep.client_credentials
        auth = ClientCredentialsAuth(
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            token_url=oauth.token_url,
            audience=oauth.audience,
            scope=oauth.scope,
            timeout=timeout,
            deployment=dep.name,
        )
        return AirflowClient(base_url=dep.url, auth=auth, **common)
    if dep.google:
        from bot.airflow.google_adc import GoogleAuth

        return AirflowClient(
            base_url=dep.url, auth=GoogleAuth(timeout=timeout, deployment=dep.name), **common
        )
    if dep.mwaa is not None:
        from bot.airflow.mwaa import mwaa_client

        return mwaa_client(
            environment=dep.mwaa.environment, region=dep.mwaa.region, mode=dep.mwaa.mode, **common
        )
    return AirflowClient(
        base_url=dep.url, token=dep.token, username=dep.username, password=dep.password, **common
    )


def _across(name: str) -> DynoReads:
    return DynoReads(dyno.directory() / f"{dyno.file_name(name)}.reads")


def clients_for(
    config: Config, *, pool_size: int = 32, processes: int = 1
) -> dict[str, AirflowClient]:
    return {
        name: client_for(dep, pool_size=pool_size, processes=processes)
        for name, dep in config.deployments.items()
    }
