"""One Airflow client per configured deployment, built from the config."""

from __future__ import annotations

from bot.airflow import AirflowClient
from bot.config import Config, Deployment


def client_for(dep: Deployment, *, pool_size: int = 32, processes: int = 1) -> AirflowClient:
    return AirflowClient(
        base_url=dep.url,
        name=dep.name,
        token=dep.token,
        username=dep.username,
        password=dep.password,
        api_version=dep.api_version,
        read_timeout=dep.timeout,
        pool_size=pool_size,
        # max_in_flight is the deployment's budget for the whole dyno, shared by its processes.
        max_in_flight=max(1, dep.max_in_flight // max(1, processes)),
    )


def clients_for(
    config: Config, *, pool_size: int = 32, processes: int = 1
) -> dict[str, AirflowClient]:
    return {
        name: client_for(dep, pool_size=pool_size, processes=processes)
        for name, dep in config.deployments.items()
    }
