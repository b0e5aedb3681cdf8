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
from typing import Any

from bot.core.json_depth import too_deep
from bot.core.reply import code

USAGE: dict[str, str] = {
    "help": "/airflow help [verb]",
    "deployments": "/airflow deployments",
    "list": "/airflow list [<deployment>] [<filter>]",
    "status": "/airflow status [<deployment>] <dag_id> [<run_id>]",
    "trigger": "/airflow trigger [<deployment>] <dag_id> [<logical_date>] [<conf-json>]",
    "pause": "/airflow pause [<deployment>] <dag_id>",
    "unpause": "/airflow unpause [<deployment>] <dag_id>",
    "whoami": "/airflow whoami",
}
VERBS = tuple(USAGE)
# Verbs that act on a deployment, and so need one named or defaulted.
DEPLOYMENT_VERBS = frozenset({"list", "status", "trigger", "pause", "unpause"})

# Airflow's own rule for DAG ids (airflow.utils.helpers.KEY_REGEX), so a typo is caught here.
DAG_ID = re.compile(r"^[\w.-]{1,250}$")
# Airflow's own rule for run ids: its default ``[scheduler] allowed_run_id_pattern`` (which also
# covers its generated ``manual__<date>`` ids, RUN_ID_REGEX in airflow/models/dagrun.py) and its
# 250-character column. ``.`` and ``..`` pass that pattern, but in a URL path they are
# dot-segments that the HTTP library resolves to another path: refused too.
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]{1,250}$")
_DOT_SEGMENTS = frozenset({".", ".."})
RUN_ID_FORM = "letters, digits and `_ . ~ : + -`, e.g. `manual__2024-01-01T00:00:00+00:00`"
# A conf is shown whole to whoever confirms or approves it (bot/core/pending.py), so it is kept to
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

    # The text as typed (whitespace folded), for the parent message; not part of equality.
    typed: str = field(default="", compare=False)


class UsageError(Exception):
    def __init__(self, problem: str, *, verb: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.verb = verb

    @property
    def usage(self) -> str | None:
        return USAGE.get(self.verb or "")


def parse_command(
    text: str, *, deployments: Sequence[str], default_deployment: str | None
) -> Command:
    text = html.unescape(text).translate(_QUOTES).strip()
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return Command(verb="help")
    verb = tokens[0][0].lower()
    if verb not in USAGE:
        hint = _did_you_mean(verb, VERBS)
        raise UsageError(f"{code(tokens[0][0])} is not a command.{hint}")
    rest = tokens[1:]
    if verb in ("help",):
        if len(rest) > 1:
            raise UsageError("help takes at most one verb.", verb=verb)
        topic = rest[0][0].lower() if rest else None
        if topic is not None and topic not in USAGE:
            raise UsageError(
                f"{code(topic)} is not a command.{_did_you_mean(topic, VERBS)}", verb=verb
            )
        return Command(verb=verb, topic=topic)
    if verb in ("deployments", "whoami"):
        if rest:
            raise UsageError(f"`{verb}` takes no arguments.", verb=verb)
        return Command(verb=verb)

    deployment, rest = _take_deployment(verb, rest, deployments, default_deployment)
    if verb == "list":
        cmd = _list(deployment, rest)
    elif verb == "status":
        cmd = _status(deployment, rest)
    elif verb == "trigger":
        cmd = _trigger(deployment, rest, text)
    else:
        cmd = _dag_only(verb, deployment, rest)
    return replace(cmd, typed=" ".join(t for t, _ in tokens))


def _take_deployment(
    verb: str,
    rest: list[tuple[str, int]],
    deployments: Sequence[str],
    default: str | None,
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
                f"{code(rest[0][0])} is not a deployment. Did you mean {code(close[0])}?", verb=verb
            )
    raise UsageError(
        f"Which deployment? This channel has no default, so name one of {names}.", verb=verb
    )


def _list(deployment: str, rest: list[tuple[str, int]]) -> Command:
    if len(rest) > 1:
        raise UsageError("`list` takes one filter (part of a DAG id).", verb="list")
    return Command(verb="list", deployment=deployment, filter=rest[0][0] if rest else None)


def _status(deployment: str, rest: list[tuple[str, int]]) -> Command:
    if not rest:
        raise UsageError("`status` needs a DAG id.", verb="status")
    if len(rest) > 2:
        raise UsageError("`status` takes a DAG id and, optionally, one run id.", verb="status")
    dag_id = _dag_id(rest[0][0], "status")
    run_id = rest[1][0] if len(rest) == 2 else None
    if run_id is not None and not valid_run_id(run_id):
        raise UsageError(
            f"{code(run_id)} is not a run id: Airflow's run ids are {RUN_ID_FORM}.", verb="status"
        )
    return Command(verb="status", deployment=deployment, dag_id=dag_id, run_id=run_id)


def _dag_only(verb: str, deployment: str, rest: list[tuple[str, int]]) -> Command:
    if not rest:
        raise UsageError(f"`{verb}` needs a DAG id.", verb=verb)
    if len(rest) > 1:
        extra = " ".join(t for t, _ in rest[1:])
        raise UsageError(f"`{verb}` takes one DAG id; unexpected {code(extra)}.", verb=verb)
    return Command(verb=verb, deployment=deployment, dag_id=_dag_id(rest[0][0], verb))


def _trigger(deployment: str, rest: list[tuple[str, int]], text: str) -> Command:
    if not rest:
        raise UsageError("`trigger` needs a DAG id.", verb="trigger")
    dag_id = _dag_id(rest[0][0], "trigger")
    rest = rest[1:]
    logical_date = None
    if rest and not rest[0][0].startswith("{"):
        logical_date = parse_logical_date(rest[0][0])
        rest = rest[1:]
    conf: dict[str, Any] = {}
    if rest:
        conf = parse_conf(text[rest[0][1] :])
    return Command(
        verb="trigger", deployment=deployment, dag_id=dag_id, logical_date=logical_date, conf=conf
    )


def _dag_id(value: str, verb: str) -> str:
    if not DAG_ID.match(value):
        raise UsageError(
            f"{code(value)} is not a DAG id: DAG ids are letters, digits, `_`, `.` and `-`.",
            verb=verb,
        )
    return value


def parse_logical_date(value: str) -> datetime:
    """ISO 8601 with a zone; a bare date means midnight UTC."""
    right_form = "Write it like `2022-11-16T11:34:00Z` or `2022-11-16` (midnight UTC)."
    if not _DATE_LIKE.match(value):
        raise UsageError(
            f"{code(value)} is neither a logical date nor a JSON object. {right_form}",
            verb="trigger",
        )
    if len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            problem = f"{code(value)} is not a real date. {right_form}"
            raise UsageError(problem, verb="trigger") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problem = f"{code(value)} is not a valid date-time. {right_form}"
        raise UsageError(problem, verb="trigger") from None
    if parsed.utcoffset() is None:
        raise UsageError(
            f"{code(value)} has no time zone, so it could mean any hour. "
            "Add `Z` for UTC or an offset like `+01:00`, e.g. `2022-11-16T11:34:00Z`.",
            verb="trigger",
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
        raise UsageError(
            f"The conf is too long ({len(value):,} characters). {limits}", verb="trigger"
        )
    # Measured before parsing: a deeper nesting would only exhaust the parser's recursion.
    if too_deep(value, MAX_CONF_DEPTH):
        raise UsageError(f"The conf is nested too deeply. {limits}", verb="trigger")
    try:
        conf = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"The conf is not valid JSON ({exc.msg} at character {exc.pos + 1}). "
            'Write a JSON object, e.g. `{"table": "orders", "full": true}`.',
            verb="trigger",
        ) from None
    if not isinstance(conf, dict):
        raise UsageError(
            'The conf must be a JSON object, e.g. `{"table": "orders"}`, '
            f"not a {type(conf).__name__}.",
            verb="trigger",
        )
    return conf


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f" Did you mean {code(close[0])}?" if close else " Try `/airflow help`."
