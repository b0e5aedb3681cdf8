"""What a verb is. Each module of ``commands/`` declares one ``Verb``; ``commands.REGISTRY``
holds them all, and everything else about verbs derives from it: the grammar and its usage
lines, help, the built-in roles, who may ask without a grant, what is answered privately,
what waits for a confirmation and is announced in the audit channel, which buttons run what.
A new verb is one new module; no table elsewhere has to learn its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from bot.config.model import VerbFacts

if TYPE_CHECKING:
    from bot.airflow import AirflowError
    from bot.core.context import Context
    from bot.core.parser import Command
    from bot.core.reply import Reply

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")  # each built-in role has the verbs of those before


class Arg(Enum):
    """What may follow the verb (and the deployment), in this order; shown in its usage line."""

    TOPIC = "[verb]"  # help: one other verb
    FILTER = "[<filter>]"  # part of a DAG id
    DAG = "<dag_id>"
    RUN = "[<run_id>]"
    TASK = "[<task_id>]"  # after a run id: a task of that run
    DATE = "[<logical_date>]"
    CONF = "[<conf-json>]"  # the rest of the text, as JSON
    GLOB = "<dag-glob>"  # a DAG id or pattern (subscriptions)
    EVENTS = "[<event>...]"  # what a subscription posts (commands/subscribe.py names them)


class Offer(Enum):
    """Where the core itself puts a verb's button, besides the verb's own replies: the watch's
    alerts and posts, the follower's last word on a run. Each is offered by one button."""

    LOGS = "a failed task's log, under a failure alert"
    CLEAR = "clear a failed run's tasks, under a failure alert or a followed run"
    MARK = "mark a run successful (a failure alert) or failed (a long-running run's alert)"
    ANSWER = "an option of a task waiting for a person, under its post"
    ANSWER_FORM = "the form of a task waiting for a person, under its post"
    ACK = "acknowledge an incident, on its message"


@dataclass(frozen=True)
class Button:
    """A button that runs a verb again with what the reply that offered it stored.

    ``in_place``: the answer replaces the clicked message (a page, a refresh) rather than being
    added below it; a stored ``in_place`` arg may say so per button. ``form``: the click opens
    the verb's form instead, and the form's submission runs the verb. ``offered``: where else
    the core offers it (an alert's Logs, Clear and Mark buttons).
    """

    in_place: bool = False
    form: bool = False
    offered: Offer | None = None


@dataclass(frozen=True)
class Form:
    """A modal that asks for a verb's arguments (trigger's logical date and conf)."""

    callback_id: str
    build: Callable[[Any], dict[str, Any]]  # the stored action of the button -> the view
    # The submitted values -> the command's fields (e.g. logical_date, conf), or the errors to
    # show beside the fields.
    read: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]


@dataclass(frozen=True)
class Verb:
    name: str
    about: str  # one line, for help
    run: Callable[[Context], Reply]
    args: tuple[Arg, ...] = ()
    role: Role | None = None  # the first built-in role that has it; None: anyone may ask
    needs_deployment: bool = True
    private: bool = False  # answered only to the asker, never in the channel
    writes: bool = False  # changes Airflow: confirm/approvers, the audit channel
    # The verb whose grant it takes, where not its own (Acknowledge takes ``status``'s).
    granted_as: str | None = None
    typed: bool = True  # False: only from a button (not in help or the grammar)
    follows_run: bool = False  # the run in its reply is followed in the thread to its end
    names_run: bool = False  # takes the run id the bot picks, so Airflow refuses a second
    examples: tuple[str, ...] = ()
    notes: str = ""
    buttons: Mapping[str, Button] = field(default_factory=dict)  # action id -> what it does
    form: Form | None = None
    # For a confirmation or an approval: what will be done, e.g. "pause `etl`" (code spans,
    # escaped); by default the verb and the DAG.
    describe: Callable[[Command], str] | None = None

    @property
    def usage(self) -> str:
        parts = ["/airflow", self.name]
        if self.needs_deployment:
            parts.append("[<deployment>]")
        parts += [arg.value for arg in self.args]
        return " ".join(parts)


@dataclass(frozen=True)
class Registry:
    """Every verb, in the order help lists them."""

    verbs: tuple[Verb, ...]
    # Airflow's refusals and faults in words that name the verb's own next step (commands).
    airflow_failure: Callable[[AirflowError, Command, Verb], Reply]
    when_empty: str  # the verb that ``/airflow`` alone runs

    def __post_init__(self) -> None:
        names = [v.name for v in self.verbs]
        actions = [a for v in self.verbs for a in v.buttons]
        if len(set(names)) != len(names) or len(set(actions)) != len(actions):
            raise ValueError("two verbs share a name or a button's action id")
        offers = [b.offered for v in self.verbs for b in v.buttons.values() if b.offered]
        if len(set(offers)) != len(offers):
            raise ValueError("two buttons are offered in the same place")

    def __getitem__(self, name: str) -> Verb:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Verb]:
        return iter(self.verbs)

    def get(self, name: str) -> Verb | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Verb]:
        return {v.name: v for v in self.verbs}

    @property
    def typed(self) -> tuple[Verb, ...]:
        return tuple(v for v in self.verbs if v.typed)

    @property
    def open(self) -> frozenset[str]:
        """Verbs anyone may use: no grant is needed."""
        return frozenset(v.name for v in self.verbs if v.role is None)

    @property
    def granted(self) -> frozenset[str]:
        """Verbs a role can grant."""
        return frozenset(v.name for v in self.verbs if v.role is not None)

    @property
    def writes(self) -> frozenset[str]:
        return frozenset(v.name for v in self.verbs if v.writes)

    def builtin_roles(self) -> dict[str, frozenset[str]]:
        """``viewer`` and ``operator``: each has its own verbs and those of the roles before."""
        roles: dict[str, frozenset[str]] = {}
        have: frozenset[str] = frozenset()
        for role in ROLES:
            have = have | {v.name for v in self.verbs if v.role == role}
            roles[role] = have
        return roles

    def facts(self) -> VerbFacts:
        """What the config loader checks roles and deployment names against."""
        return VerbFacts(
            builtin_roles=self.builtin_roles(),
            granted=self.granted,
            open=self.open,
            words=frozenset(v.name for v in self.verbs),
        )

    def button(self, action_id: str) -> tuple[Verb, Button] | None:
        for verb in self.verbs:
            if action_id in verb.buttons:
                return verb, verb.buttons[action_id]
        return None

    def offered(self, offer: Offer) -> str:
        """The action id of the button offered there; every place has one."""
        for verb in self.verbs:
            for action_id, button in verb.buttons.items():
                if button.offered is offer:
                    return action_id
        raise LookupError(f"no verb offers a button for {offer.value}")

    def action_ids(self) -> tuple[str, ...]:
        return tuple(a for v in self.verbs for a in v.buttons)

    def forms(self) -> Iterable[tuple[Verb, Form]]:
        return ((v, v.form) for v in self.verbs if v.form is not None)
