"""What every command is given: the parsed command, who asked where, and the Airflow client."""

from __future__ import annotations

from dataclasses import dataclass

from bot.airflow import AirflowClient
from bot.config import Config
from bot.parser import Command
from bot.permissions import Access


@dataclass(frozen=True)
class Context:
    command: Command
    user_id: str
    channel_id: str
    config: Config
    access: Access  # what the asker may do: commands show only that
    client: AirflowClient | None = None  # set for verbs that act on a deployment
    page_offset: int = 0  # list: the first DAG to show, when a Next/Previous button asked
    # list, for a user limited to some DAGs: where in Airflow's listing this page starts
    # looking, and (offset, start) of the pages before it, for Previous.
    page_from: int = 0
    page_back: tuple[tuple[int, int], ...] = ()
    run_id: str | None = None  # trigger: the dag_run_id to use (one per pending action)
    approved_by: str | None = None  # trigger: the approver, for the run's note

    @property
    def airflow(self) -> AirflowClient:
        if self.client is None:
            raise RuntimeError(f"`{self.command.verb}` was dispatched without an Airflow client")
        return self.client

    @property
    def deployment(self) -> str:
        return self.command.deployment or ""
