"""What every command is given: the parsed command, who asked where, and the Airflow client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.airflow import AirflowClient
from bot.config import Config
from bot.core.answer_claims import AnswerClaims
from bot.core.parser import Command
from bot.core.permissions import Access, Permissions
from bot.core.subscriptions import SubscriptionBook
from bot.core.verbs import Registry
from bot.store import IncidentAcks


@dataclass(frozen=True)
class PagePosition:
    """Where a page starts, as the buttons that turn pages carry it.

    ``list``: ``offset`` is the first DAG shown, counted among those the asker may see. For a
    user limited to some DAGs, also ``start``: where in Airflow's listing to begin looking for
    theirs, and ``back``: the (offset, start) of the pages before, for Previous.
    ``logs``: ``offset`` is how many lines from the log's end the pages already shown hold.
    """

    offset: int = 0
    start: int = 0
    back: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> PagePosition:
        return cls(
            offset=int(args.get("offset") or 0),
            start=int(args.get("from") or 0),
            back=tuple((int(o), int(f)) for o, f in args.get("back") or ()),
        )

    def args(self) -> dict[str, Any]:
        """The button's stored args (JSON): what ``from_args`` reads back."""
        args: dict[str, Any] = {"offset": self.offset}
        if self.start or self.back:
            args.update({"from": self.start, "back": [list(p) for p in self.back]})
        return args


@dataclass(frozen=True)
class Context:
    command: Command
    user_id: str
    channel_id: str
    config: Config
    verbs: Registry  # every verb (commands.REGISTRY): help and whoami list them
    access: Access  # what the asker may do: commands show only that
    client: AirflowClient | None = None  # set for verbs that act on a deployment
    page: PagePosition = PagePosition()  # list: the page a Next/Previous button asked for
    run_id: str | None = None  # trigger: the dag_run_id to use (one per pending action)
    approved_by: str | None = None  # trigger: the approver, for the run's note
    origin: str = "slack"  # or "console": asked in ``python -m bot console`` (bot/core/audit.py)
    subscriptions: SubscriptionBook | None = None  # the channels' subscriptions
    claims: AnswerClaims | None = None  # respond: the claim that makes many clicks one answer
    acks: IncidentAcks | None = None  # ack: who is on an incident

    @property
    def book(self) -> SubscriptionBook:
        if self.subscriptions is None:
            raise RuntimeError(f"`{self.command.verb}` was dispatched without the subscriptions")
        return self.subscriptions

    @property
    def incident_acks(self) -> IncidentAcks:
        if self.acks is None:
            raise RuntimeError(f"`{self.command.verb}` was dispatched without the incidents")
        return self.acks

    @property
    def answer_claims(self) -> AnswerClaims:
        if self.claims is None:
            raise RuntimeError(f"`{self.command.verb}` was dispatched without the answer claims")
        return self.claims

    @property
    def airflow(self) -> AirflowClient:
        if self.client is None:
            raise RuntimeError(f"`{self.command.verb}` was dispatched without an Airflow client")
        return self.client

    @property
    def deployment(self) -> str:
        return self.command.deployment or ""


class Contexts:
    """Builds the ``Context`` of a request, for whoever asks: the one place that does."""

    def __init__(
        self,
        *,
        config: Config,
        verbs: Registry,
        permissions: Permissions,
        clients: Mapping[str, AirflowClient],
        subscriptions: SubscriptionBook | None = None,
        claims: AnswerClaims | None = None,
        acks: IncidentAcks | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.claims = claims
        self.acks = acks
        self.config = config
        self.verbs = verbs
        self.permissions = permissions
        self.clients = clients

    def of(
        self,
        command: Command,
        *,
        user_id: str,
        channel_id: str,
        origin: str = "slack",
        page: PagePosition | None = None,
    ) -> Context:
        return Context(
            command=command,
            user_id=user_id,
            channel_id=channel_id,
            config=self.config,
            verbs=self.verbs,
            access=self.permissions.access_for(user_id),
            client=self.clients.get(command.deployment or ""),
            page=page or PagePosition(),
            origin=origin,
            subscriptions=self.subscriptions,
            claims=self.claims,
            acks=self.acks,
        )
