"""The ``/airflow`` grammar: text in, a validated ``Command`` or a ``UsageError`` out.

Everything that can be checked without Airflow is checked here, before any call: the verb,
the deployment, the shape of a DAG id, the logical date and the conf JSON. Each mistake is
answered with what was wrong and the right form.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.config.model import DEFAULT_EVENTS, DEFAULT_QUEUED_AFTER, EVENTS, WatchOptions
from bot.config.times import TimeError, parse_deadline, parse_duration, show_duration
from bot.core.json_depth import too_deep
from bot.core.reply import code
from bot.core.verbs import Arg, Registry, Verb

# Airflow's own rule for DAG ids (airflow.utils.helpers.KEY_REGEX), so a typo is caught here.
DAG_ID = re.compile(r"^[\w.-]{1,250}$")
# Task ids follow the same rule (a task in a group is ``group.task``); ``.`` and ``..`` pass it
# but would be dot-segments in the log's URL path, so they are refused too.
TASK_ID = DAG_ID
# Airflow's own rule for run ids: its default ``[scheduler] allowed_run_id_pattern`` (which also
# covers its generated ``manual__<date>`` ids, RUN_ID_REGEX in airflow/models/dagrun.py) and its
# 250-character column. ``.`` and ``..`` pass that pattern, but in a URL path they are
# dot-segments that the HTTP library resolves to another path: refused too.
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]{1,250}$")
_DOT_SEGMENTS = frozenset({".", ".."})
# A DAG id, or a pattern of them (fnmatch: ``*``, ``?``, ``[...]``).
# `/` too: `import_errors` matches the pattern against DAG files' paths (no DAG id has one).
DAG_GLOB = re.compile(r"^[\w.\-*?\[\]!/]{1,250}$")
RUN_ID_FORM = "letters, digits and `_ . ~ : + -`, e.g. `manual__2024-01-01T00:00:00+00:00`"
# A conf is shown whole to whoever confirms or approves it (bot/core/approvals.py), so it is kept to
# what a person can read there: at most this many characters of JSON, nested this deep.
MAX_CONF_CHARS = 4000
MAX_CONF_DEPTH = 20
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# Slack clients turn straight quotes into typographic ones ("smart quotes"): undo that.
_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
    }
)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Command:
    verb: str
    deployment: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    filter: str | None = None
    logical_date: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    topic: str | None = None  # for help: the verb asked about
    glob: str | None = None  # subscribe, unsubscribe: the DAG ids watched
    events: frozenset[str] = frozenset()  # subscribe: what is posted
    # subscribe: the limits of long, queued and late
    options: WatchOptions = field(default_factory=WatchOptions)
    task_id: str | None = None
    # From a button only: which try and which mapped instance of the task (logs' pages).
    try_number: int | None = None
    map_index: int | None = None
    state: str | None = None  # mark: the state a button sets (success when none)

    # The text as typed (whitespace folded), for the parent message; not part of equality.
    typed: str = field(default="", compare=False)


class UsageError(Exception):
    """What was wrong with the text, and (when the verb is known) its usage line."""

    def __init__(self, problem: str, *, verb: str | None = None, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.verb = verb
        self.usage = usage


class Stored(Protocol):
    """What a stored action keeps of its command (bot/store/actions.py ``PendingAction``)."""

    @property
    def verb(self) -> str: ...
    @property
    def deployment(self) -> str | None: ...
    @property
    def dag_id(self) -> str | None: ...
    @property
    def logical_date(self) -> datetime | None: ...
    @property
    def conf(self) -> dict[str, Any] | None: ...
    @property
    def args(self) -> dict[str, Any]: ...


def stored_command(action: Stored, *, verb: str | None = None, typed: str = "") -> Command:
    """The command a stored action stands for, the one place that reads it back: a button's
    (what its reply stored in its args), a confirmation's or an approval's (its logical date
    and conf), a form's (then the form's fields). ``verb``: the verb whose button it is, where
    the action is stored under the button's action id."""
    args = action.args
    conf = action.conf if action.conf is not None else args.get("conf")
    return Command(
        verb=verb or action.verb,
        deployment=action.deployment,
        dag_id=action.dag_id,
        logical_date=action.logical_date,
        run_id=_stored_str(args.get("run_id")),
        filter=_stored_str(args.get("filter")),
        task_id=_stored_str(args.get("task_id")),
        try_number=_stored_int(args.get("try_number")),
        map_index=_stored_int(args.get("map_index")),
        state=_stored_str(args.get("state")),
        conf=dict(conf or {}),
        typed=typed,
    )


def _stored_str(value: Any) -> str | None:
    return str(value) if value else None


def _stored_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_command(
    text: str, verbs: Registry, *, deployments: Sequence[str], default_deployment: str | None
) -> Command:
    """The command ``text`` asks for, by the grammar each verb declares (``Verb.args``)."""
    text = html.unescape(text).translate(_QUOTES).strip()
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    names = [v.name for v in verbs.typed]
    if not tokens:
        return Command(verb=verbs.when_empty)
    word = tokens[0][0].lower()
    verb = verbs.get(word)
    if verb is None or not verb.typed:
        raise UsageError(
            f"{code(tokens[0][0])} is not a command.{_did_you_mean(word, names, verbs.when_empty)}"
        )
    try:
        cmd = _arguments(verb, tokens[1:], text, names, deployments, default_deployment)
    except UsageError as err:
        raise UsageError(err.problem, verb=verb.name, usage=verb.usage) from None
    return replace(cmd, typed=" ".join(t for t, _ in tokens))


def _arguments(
    verb: Verb,
    rest: list[tuple[str, int]],
    text: str,
    names: Sequence[str],
    deployments: Sequence[str],
    default: str | None,
) -> Command:
    name, args = verb.name, verb.args
    if not verb.needs_deployment:
        if args == (Arg.TOPIC,):
            if len(rest) > 1:
                raise UsageError(f"{name} takes at most one verb.")
            topic = rest[0][0].lower() if rest else None
            if topic is not None and topic not in names:
                raise UsageError(
                    f"{code(topic)} is not a command.{_did_you_mean(topic, names, name)}"
                )
            return Command(verb=name, topic=topic)
        if rest:
            raise UsageError(f"`{name}` takes no arguments.")
        return Command(verb=name)
    deployment, rest = _take_deployment(rest, deployments, default)
    if args[:1] == (Arg.GLOB,):
        return _watching(name, args, deployment, rest)
    if args == (Arg.FILTER,):
        if len(rest) > 1:
            raise UsageError(f"`{name}` takes one filter (part of a DAG id).")
        return Command(verb=name, deployment=deployment, filter=rest[0][0] if rest else None)
    if not rest:
        raise UsageError(f"`{name}` needs a DAG id.")
    dag_id = _dag_id(rest[0][0])
    rest = rest[1:]
    cmd = Command(verb=name, deployment=deployment, dag_id=dag_id)
    if args == (Arg.DAG, Arg.RUN):
        if len(rest) > 1:
            raise UsageError(f"`{name}` takes a DAG id and, optionally, one run id.")
        return replace(cmd, run_id=_run_id(rest[0][0]) if rest else None)
    if args == (Arg.DAG, Arg.RUN, Arg.TASK):
        if len(rest) > 2:
            raise UsageError(
                f"`{name}` takes a DAG id and, optionally, a run id and then a task id."
            )
        run_id = _run_id(rest[0][0]) if rest else None
        task_id = _task_id(rest[1][0]) if len(rest) > 1 else None
        return replace(cmd, run_id=run_id, task_id=task_id)
    if args == (Arg.DAG, Arg.DATE, Arg.CONF):
        logical_date = None
        if rest and not rest[0][0].startswith("{"):
            logical_date = parse_logical_date(rest[0][0])
            rest = rest[1:]
        conf = parse_conf(text[rest[0][1] :]) if rest else {}
        return replace(cmd, logical_date=logical_date, conf=conf)
    if args != (Arg.DAG,):
        raise ValueError(f"no grammar for the arguments {args} of {name}")
    if rest:
        extra = " ".join(t for t, _ in rest)
        raise UsageError(f"`{name}` takes one DAG id; unexpected {code(extra)}.")
    return cmd


def _watching(
    name: str, args: tuple[Arg, ...], deployment: str, rest: list[tuple[str, int]]
) -> Command:
    """``<dag-glob>`` and, for subscribe, the events: ``failed`` when none is named."""
    if not rest:
        raise UsageError(f"`{name}` needs a DAG id or a pattern, like `etl_*` (`*` for every DAG).")
    glob = rest[0][0]
    if not DAG_GLOB.match(glob):
        raise UsageError(
            f"{code(glob)} is not a DAG id or pattern: DAG ids are letters, digits, `_`, `.` "
            "and `-`; a pattern adds `*`, `?` and `[...]` (and `/`, for DAG files' paths)."
        )
    words = [t for t, _ in rest[1:]]
    if args == (Arg.GLOB,):
        if words:
            raise UsageError(f"`{name}` takes one DAG pattern; unexpected {code(' '.join(words))}.")
        return Command(verb=name, deployment=deployment, glob=glob)
    events, options = _events(words)
    return Command(
        verb=name, deployment=deployment, glob=glob, events=events or DEFAULT_EVENTS,
        options=options,
    )  # fmt: skip


# How each event is written where it takes a value; the others are their name alone.
EVENT_FORMS = {
    "long": "long[=<duration>]",
    "queued": "queued[=<duration>]",
    "late": "late=<HH:MM>[/<zone>]",
}


def _events(words: Sequence[str]) -> tuple[frozenset[str], WatchOptions]:
    """The events named and the limits given with them: ``long=30m``, ``queued``,
    ``late=09:00/Europe/Berlin``."""
    events: set[str] = set()
    values: dict[str, str] = {}
    limits: dict[str, Any] = {}
    for word in words:
        typed, equals, value = word.partition("=")
        event = typed.lower()
        if event not in EVENTS:
            forms = ", ".join(code(EVENT_FORMS.get(e, e)) for e in EVENTS)
            raise UsageError(
                f"{code(word)} is not an event: name any of {forms}, or none for `failed`."
            )
        if equals and event not in EVENT_FORMS:
            raise UsageError(
                f"{code(event)} takes no value: write {code(event)} alone, not {code(word)}."
            )
        if event == "late" and not value:
            raise UsageError(
                f"{code(word)} needs a time: write `late=09:00` (UTC) or "
                "`late=09:00/Europe/Berlin`, the time by which each DAG has succeeded each day."
            )
        if equals and not value:
            raise UsageError(
                f"{code(word)} needs a duration after `=`, like `{event}=30m`, or write "
                f"{code(event)} alone for {_default_limit(event)}."
            )
        if value and values.get(event, value) != value:
            raise UsageError(
                f"{code(event)} is named twice, with {code(values[event])} and {code(value)}: "
                "give it one limit."
            )
        events.add(event)
        if value:
            values[event] = value
            try:
                limits[event] = parse_deadline(value) if event == "late" else parse_duration(value)
            except TimeError as err:
                raise UsageError(
                    f"{code(err.value)} {err.problem} (in {code(word)}): {err.form}."
                ) from None
    options = WatchOptions(
        long_after=limits.get("long"),
        queued_after=limits.get("queued", DEFAULT_QUEUED_AFTER),
        late=limits.get("late"),
    )
    return frozenset(events), options


def _default_limit(event: str) -> str:
    if event == "long":
        return "twice the usual duration"
    return f"the default, {show_duration(DEFAULT_QUEUED_AFTER)}"


def _take_deployment(
    rest: list[tuple[str, int]], deployments: Sequence[str], default: str | None
) -> tuple[str, list[tuple[str, int]]]:
    if rest and rest[0][0] in deployments:
        return rest[0][0], rest[1:]
    if default is not None:
        return default, rest
    names = ", ".join(code(d) for d in deployments)
    if rest:
        close = difflib.get_close_matches(rest[0][0], deployments, n=1, cutoff=0.6)
        if close:
            raise UsageError(
                f"{code(rest[0][0])} is not a deployment. Did you mean {code(close[0])}?"
            )
    raise UsageError(f"Which deployment? This channel has no default, so name one of {names}.")


def _dag_id(value: str) -> str:
    if not DAG_ID.match(value):
        raise UsageError(
            f"{code(value)} is not a DAG id: DAG ids are letters, digits, `_`, `.` and `-`."
        )
    return value


def _run_id(value: str) -> str:
    if not valid_run_id(value):
        raise UsageError(f"{code(value)} is not a run id: Airflow's run ids are {RUN_ID_FORM}.")
    return value


def _task_id(value: str) -> str:
    if not TASK_ID.match(value) or value in _DOT_SEGMENTS:
        raise UsageError(
            f"{code(value)} is not a task id: task ids are letters, digits, `_`, `.` and `-` "
            "(a task in a group is `group.task`)."
        )
    return value


def parse_logical_date(value: str) -> datetime:
    """ISO 8601 with a zone; a bare date means midnight UTC."""
    right_form = "Write it like `2022-11-16T11:34:00Z` or `2022-11-16` (midnight UTC)."
    if not _DATE_LIKE.match(value):
        raise UsageError(f"{code(value)} is neither a logical date nor a JSON object. {right_form}")
    if len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            problem = f"{code(value)} is not a real date. {right_form}"
            raise UsageError(problem) from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problem = f"{code(value)} is not a valid date-time. {right_form}"
        raise UsageError(problem) from None
    if parsed.utcoffset() is None:
        raise UsageError(
            f"{code(value)} has no time zone, so it could mean any hour. "
            "Add `Z` for UTC or an offset like `+01:00`, e.g. `2022-11-16T11:34:00Z`."
        )
    return parsed


def valid_run_id(run_id: str) -> bool:
    """Whether Airflow would accept ``run_id``, and it can be put in a URL path as it is."""
    return bool(RUN_ID.match(run_id)) and run_id not in _DOT_SEGMENTS


def parse_conf(value: str) -> dict[str, Any]:
    # Slack clients turn quotes curly, in a modal's text field as in a slash command.
    value = value.translate(_QUOTES).strip().strip("`").strip()
    limits = (
        f"A conf may be at most {MAX_CONF_CHARS:,} characters of JSON, nested at most "
        f"{MAX_CONF_DEPTH} levels deep, so that it can be shown whole to whoever confirms it."
    )
    if len(value) > MAX_CONF_CHARS:
        raise UsageError(f"The conf is too long ({len(value):,} characters). {limits}")
    # Measured before parsing: a deeper nesting would only exhaust the parser's recursion.
    if too_deep(value, MAX_CONF_DEPTH):
        raise UsageError(f"The conf is nested too deeply. {limits}")
    try:
        conf = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"The conf is not valid JSON ({exc.msg} at character {exc.pos + 1}). "
            'Write a JSON object, e.g. `{"table": "orders", "full": true}`.'
        ) from None
    if not isinstance(conf, dict):
        raise UsageError(
            'The conf must be a JSON object, e.g. `{"table": "orders"}`, '
            f"not a {type(conf).__name__}."
        )
    return conf


def _did_you_mean(word: str, choices: Sequence[str], fallback: str) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f" Did you mean {code(close[0])}?" if close else f" Try `/airflow {fallback}`."
