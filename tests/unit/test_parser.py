"""The /airflow grammar: every mistake gets what was wrong and the right form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Deadline, WatchOptions
from bot.config.model import DEFAULT_QUEUED_AFTER
from bot.core.parser import Command, UsageError, parse_command, parse_conf, stored_command
from bot.core.verbs import Arg
from commands import REGISTRY

DEPLOYMENTS = ["prod", "dev"]


def parse(text: str, default: str | None = None) -> Command:
    return parse_command(text, REGISTRY, deployments=DEPLOYMENTS, default_deployment=default)


def problem(text: str, default: str | None = None) -> UsageError:
    with pytest.raises(UsageError) as err:
        parse(text, default)
    return err.value


def test_the_interface_example() -> None:
    cmd = parse("trigger prod etl_daily 2022-11-16T11:34:00Z")
    assert cmd.verb == "trigger"
    assert cmd.deployment == "prod"
    assert cmd.dag_id == "etl_daily"
    assert cmd.logical_date == datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    assert cmd.conf == {}


def test_a_bare_date_means_midnight_utc() -> None:
    assert parse("trigger prod etl 2022-11-16").logical_date == datetime(2022, 11, 16, tzinfo=UTC)


def test_offsets_are_kept() -> None:
    cmd = parse("trigger prod etl 2022-11-16T11:34:00+01:00")
    assert cmd.logical_date == datetime(2022, 11, 16, 11, 34, tzinfo=timezone(timedelta(hours=1)))


def test_conf_with_spaces_and_curly_quotes_from_slack_clients() -> None:
    cmd = parse(
        "trigger prod etl 2022-11-16 {\u201ctable\u201d: \u201cor ders\u201d, \u201cn\u201d: 2}"
    )
    assert cmd.conf == {"table": "or ders", "n": 2}
    assert parse('trigger prod etl {"a": [1, 2]}').conf == {"a": [1, 2]}


def test_html_escapes_slack_applies_are_undone() -> None:
    assert parse('trigger prod etl {"q": "a &lt; b &amp;&amp; c"}').conf == {"q": "a < b && c"}


def test_deployment_may_be_left_out_where_a_default_applies() -> None:
    assert parse("pause etl", default="dev") == Command(
        verb="pause", deployment="dev", dag_id="etl"
    )
    # naming one still wins over the default
    assert parse("pause prod etl", default="dev").deployment == "prod"
    # list's only argument is a filter when it is not a deployment
    assert parse("list etl_", default="prod") == Command(
        verb="list", deployment="prod", filter="etl_"
    )
    assert parse("list dev", default="prod") == Command(verb="list", deployment="dev")


def test_no_default_asks_which_deployment() -> None:
    err = problem("pause etl")
    assert "Which deployment?" in err.problem
    assert "`prod`, `dev`" in err.problem
    assert err.usage == "/airflow pause [<deployment>] <dag_id>"


def test_misspelt_deployment_and_verb_get_did_you_mean() -> None:
    assert "Did you mean `prod`?" in problem("pause prdo etl").problem
    assert "Did you mean `trigger`?" in problem("triger prod etl").problem
    assert "Try `/airflow help`" in problem("frobnicate").problem


def test_naive_date_is_refused_with_the_right_form() -> None:
    err = problem("trigger prod etl 2022-11-16T11:34:00")
    assert "no time zone" in err.problem
    assert "2022-11-16T11:34:00Z" in err.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trigger prod etl 2022-13-45", "not a real date"),
        ("trigger prod etl 2022-11-16T25:00:00Z", "not a valid date-time"),
        ("trigger prod etl tomorrow", "neither a logical date nor a JSON object"),
        ("trigger prod etl {not json}", "not valid JSON"),
        ("trigger prod etl [1, 2]", "neither a logical date"),
        ("trigger prod etl 2022-11-16 [1, 2]", "must be a JSON object"),
        ("trigger prod", "needs a DAG id"),
        ("pause prod etl extra", "unexpected `extra`"),
        ("status prod", "needs a DAG id"),
        ("status prod etl run extra", "one run id"),
        ("pause prod 'etl'", "is not a DAG id"),
        ("whoami please", "takes no arguments"),
        ("help frobnicate", "not a command"),
    ],
)
def test_each_mistake_is_named(text: str, expected: str) -> None:
    assert expected in problem(text).problem


def test_empty_text_is_help() -> None:
    assert parse("   ").verb == "help"
    assert parse("help trigger").topic == "trigger"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("whoami", Command(verb="whoami")),
        ("deployments", Command(verb="deployments")),
        ("HELP Trigger", Command(verb="help", topic="trigger")),
        ("help", Command(verb="help")),
        ("status prod etl", Command(verb="status", deployment="prod", dag_id="etl")),
        (
            "status dev etl scheduled__2022-11-16T00:00:00+00:00",
            Command(
                verb="status",
                deployment="dev",
                dag_id="etl",
                run_id="scheduled__2022-11-16T00:00:00+00:00",
            ),
        ),
        ("unpause dev etl.v2", Command(verb="unpause", deployment="dev", dag_id="etl.v2")),
        ("list prod", Command(verb="list", deployment="prod")),
        ("list prod etl", Command(verb="list", deployment="prod", filter="etl")),
        ("trigger prod etl", Command(verb="trigger", deployment="prod", dag_id="etl")),
        (
            'trigger prod etl 2022-11-16 ```{"a": 1}```',
            Command(
                verb="trigger",
                deployment="prod",
                dag_id="etl",
                logical_date=datetime(2022, 11, 16, tzinfo=UTC),
                conf={"a": 1},
            ),
        ),
    ],
)
def test_each_verb_parses_its_right_form(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "verb"),
    [
        ("pause prod", "`pause` needs a DAG id.", "pause"),
        ("unpause prod", "`unpause` needs a DAG id.", "unpause"),
        ("unpause prod etl a b", "`unpause` takes one DAG id; unexpected `a b`.", "unpause"),
        ("list prod etl ml", "`list` takes one filter (part of a DAG id).", "list"),
        ("help list trigger", "help takes at most one verb.", "help"),
        ("deployments prod", "`deployments` takes no arguments.", "deployments"),
        (
            "status prod etl " + "r" * 251,
            f"`{'r' * 251}` is not a run id: Airflow's run ids are",
            "status",
        ),
        ("status prod etl/x", "`etl/x` is not a DAG id", "status"),
        ("trigger prod etl {oops}", "The conf is not valid JSON (Expecting property name", None),
        ("trigger prod etl {oops}", "at character 2). Write a JSON object", None),
        ("trigger prod etl 2022-11-16 7", "The conf must be a JSON object", "trigger"),
        ("trigger prod etl 2022-11-16 7", "not a int.", "trigger"),
        ("pause prdo etl", "`prdo` is not a deployment. Did you mean `prod`?", "pause"),
        ("pause zzz etl", "Which deployment? This channel has no default", "pause"),
        ("Frobnicate", "`Frobnicate` is not a command. Try `/airflow help`.", None),
        ("help frobnicate", "`frobnicate` is not a command. Try `/airflow help`.", "help"),
        ("help trigerr", "`trigerr` is not a command. Did you mean `trigger`?", "help"),
    ],
)
def test_each_mistake_is_named_with_the_verbs_usage(
    text: str, expected: str, verb: str | None
) -> None:
    err = problem(text)
    assert expected in err.problem
    assert str(err) == err.problem  # what logs and tracebacks show
    if verb is not None:
        assert err.verb == verb
        assert err.usage is not None and err.usage.startswith(f"/airflow {verb}")


def test_a_deployment_named_wins_even_without_a_default() -> None:
    # With no default, the first argument must be a deployment: a DAG id there is an error.
    assert parse("status dev etl").deployment == "dev"
    assert "Which deployment?" in problem("status etl").problem
    assert parse("list", default="dev") == Command(verb="list", deployment="dev")


def test_the_command_keeps_what_was_typed_for_the_parent_message() -> None:
    assert (
        parse('trigger  prod etl 2022-11-16  {"a": 1}').typed
        == 'trigger prod etl 2022-11-16 {"a": 1}'
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_command_or_a_usage_error(text: str) -> None:
    try:
        cmd = parse(text, default="prod")
    except UsageError as err:
        assert err.problem
    else:
        # A verb anyone can type (a button-only one, as mark or respond, never comes of text).
        assert cmd.verb in {v.name for v in REGISTRY.typed}


def _padded_conf(chars: int) -> str:
    """A conf of exactly ``chars`` characters of JSON."""
    return '{"p": "' + "x" * (chars - len('{"p": ""}')) + '"}'


def _nested_conf(depth: int) -> str:
    """A conf whose brackets nest exactly ``depth`` deep (the object itself is one level)."""
    return '{"a": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


def test_a_conf_of_the_largest_size_and_depth_is_taken_whole() -> None:
    assert parse_conf(_padded_conf(4000)) == {"p": "x" * 3991}
    assert parse_conf(_nested_conf(20))["a"] is not None


def test_a_conf_one_past_either_limit_is_refused_with_both_limits_named() -> None:
    limits = "at most 4,000 characters of JSON, nested at most 20 levels deep"
    with pytest.raises(UsageError) as long:
        parse_conf(_padded_conf(4001))
    assert long.value.problem.startswith("The conf is too long (4,001 characters).")
    assert limits in long.value.problem
    with pytest.raises(UsageError) as deep:
        parse_conf(_nested_conf(21))
    assert deep.value.problem.startswith("The conf is nested too deeply.")
    assert limits in deep.value.problem
    # Typed in the command, the same answer: never a RecursionError, however deep.
    assert "nested too deeply" in problem("trigger prod etl " + _nested_conf(1500)).problem


# -- logs: a DAG, then optionally a run, then optionally a task of that run -------------------

LOGS_RUN = "scheduled__2022-11-16T00:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("logs prod etl", Command(verb="logs", deployment="prod", dag_id="etl")),
        (f"logs etl {LOGS_RUN}", Command(verb="logs", deployment="dev", dag_id="etl",
                                         run_id=LOGS_RUN)),
        (f"logs prod etl {LOGS_RUN} load", Command(verb="logs", deployment="prod", dag_id="etl",
                                                   run_id=LOGS_RUN, task_id="load")),
        ("logs prod etl r1 group.inner-task_2", Command(verb="logs", deployment="prod",
                                                        dag_id="etl", run_id="r1",
                                                        task_id="group.inner-task_2")),
    ],
)  # fmt: skip
def test_logs_takes_a_dag_then_a_run_then_a_task(text: str, expected: Command) -> None:
    assert parse(text, default="dev") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("logs prod", "`logs` needs a DAG id."),
        ("logs prod etl r1 load more", "`logs` takes a DAG id and, optionally, a run id and "
                                       "then a task id."),
        ("logs prod etl r1 load/x", "`load/x` is not a task id: task ids are letters, digits, "
                                    "`_`, `.` and `-` (a task in a group is `group.task`)."),
        ("logs prod etl r1 ..", "`..` is not a task id"),
        ("logs prod etl r1 " + "t" * 251, "is not a task id"),
        ("logs prod etl r/1 load", "`r/1` is not a run id: Airflow's run ids are"),
    ],
)  # fmt: skip
def test_each_logs_mistake_is_named_with_its_usage(text: str, expected: str) -> None:
    err = problem(text)
    assert expected in err.problem
    assert err.usage == "/airflow logs [<deployment>] <dag_id> [<run_id>] [<task_id>]"


def test_mark_is_no_typed_command() -> None:
    # Only the "Mark success" button, which names the run, marks a run.
    assert "`mark` is not a command" in problem("mark prod etl r1").problem


@dataclasses.dataclass(frozen=True)
class StoredAction:
    verb: str
    args: dict[str, Any]
    deployment: str | None = "prod"
    dag_id: str | None = "etl"
    logical_date: datetime | None = None
    conf: dict[str, Any] | None = None


def test_a_button_s_stored_args_become_its_command() -> None:
    args = {"run_id": "r1", "task_id": "load", "try_number": 2, "map_index": 0, "offset": 40}
    assert stored_command(StoredAction("logs_earlier", args), verb="logs") == Command(
        verb="logs", deployment="prod", dag_id="etl", run_id="r1", task_id="load",
        try_number=2, map_index=0,
    )  # fmt: skip
    bare = stored_command(StoredAction("runs", {"try_number": "2", "run_id": ""}))
    assert bare == Command(verb="runs", deployment="prod", dag_id="etl")
    assert stored_command(StoredAction("clear", {"conf": {"a": 1}})).conf == {"a": 1}


def test_a_confirmation_s_stored_date_and_conf_become_its_command() -> None:
    at = datetime(2022, 11, 16, 11, 34, tzinfo=UTC)
    pending = StoredAction("trigger", {"run_id": "manual__1"}, logical_date=at, conf={"k": "v"})
    assert stored_command(pending, typed="trigger prod etl") == Command(
        verb="trigger", deployment="prod", dag_id="etl", logical_date=at, conf={"k": "v"},
        run_id="manual__1", typed="trigger prod etl",
    )  # fmt: skip
    # The stored conf is the command's, even when the args hold one too (a button's).
    both = StoredAction("trigger", {"conf": {"old": 1}}, conf={})
    assert stored_command(both).conf == {}


# -- subscribe, unsubscribe: a DAG pattern and events ------------------------------------------


def test_subscribe_takes_a_pattern_and_events_failed_by_default() -> None:
    assert parse("subscribe prod etl_*") == Command(
        verb="subscribe", deployment="prod", glob="etl_*", events=frozenset({"failed"})
    )
    assert parse("subscribe etl_daily FAILED success", default="dev") == Command(
        verb="subscribe",
        deployment="dev",
        glob="etl_daily",
        events=frozenset({"failed", "success"}),
    )
    assert parse("unsubscribe prod [ab]_?x*") == Command(
        verb="unsubscribe", deployment="prod", glob="[ab]_?x*"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("subscribe prod", "`subscribe` needs a DAG id or a pattern, like `etl_*`"),
        ("subscribe prod etl_* fails", "`fails` is not an event: name any of `failed`"),
        ("subscribe prod etl_* failed sucess", "`sucess` is not an event"),
        ("subscribe prod etl:x", "`etl:x` is not a DAG id or pattern"),
        (
            "unsubscribe prod etl_* failed",
            "`unsubscribe` takes one DAG pattern; unexpected `failed`",
        ),
        ("unsubscribe prod", "`unsubscribe` needs a DAG id or a pattern"),
    ],
)
def test_subscription_mistakes_are_named_with_the_usage(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert problem in err.value.problem
    verb = text.split()[0]
    assert err.value.usage == REGISTRY[verb].usage


def test_the_silent_trouble_events_take_their_limits() -> None:
    cmd = parse("subscribe prod etl_* long=30m queued late=09:00/Europe/Berlin import_errors")
    assert cmd.events == frozenset({"long", "queued", "late", "import_errors"})
    assert cmd.options == WatchOptions(
        long_after=1800.0,
        queued_after=DEFAULT_QUEUED_AFTER,
        late=Deadline(at=time(9, 0), zone="Europe/Berlin"),
    )
    assert parse("subscribe prod etl_* long").options == WatchOptions()  # twice the usual
    assert parse("subscribe prod etl_* queued=1h30m").options.queued_after == 5400.0
    assert parse("subscribe prod etl_* late=18:30").options.late == Deadline(at=time(18, 30))
    # Names are read in any case; a zone as the zone database spells it.
    typed = parse("subscribe prod etl_* LONG=2H Late=7:05/europe/berlin failed")
    assert typed.events == frozenset({"long", "late", "failed"})
    assert typed.options.long_after == 7200.0
    assert typed.options.late == Deadline(at=time(7, 5), zone="Europe/Berlin")
    assert parse("subscribe prod etl_* long=1h long=1h").options.long_after == 3600.0
    assert parse("subscribe prod etl_* failed").options == WatchOptions()


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (
            "subscribe prod etl_* long=5x",
            "`5x` is not a duration (in `long=5x`): write a number and a unit, like `90s`, "
            "`30m`, `2h` or `1h30m`.",
        ),
        ("subscribe prod etl_* queued=0s", "`0s` is no time at all (in `queued=0s`)"),
        (
            "subscribe prod etl_* late=25:00",
            "`25:00` is not a time of day (in `late=25:00`): write a 24-hour time, like `09:00`",
        ),
        (
            "subscribe prod etl_* late=09:00/Mars/Base",
            "`Mars/Base` is not a time zone (in `late=09:00/Mars/Base`): write an IANA time "
            "zone, like `Europe/Berlin`",
        ),
        ("subscribe prod etl_* late=9:00/Europe/Berln", "did you mean `Europe/Berlin`?"),
        ("subscribe prod etl_* late", "`late` needs a time: write `late=09:00` (UTC) or"),
        ("subscribe prod etl_* late=", "`late=` needs a time"),
        ("subscribe prod etl_* long=", "`long=` needs a duration after `=`, like `long=30m`"),
        ("subscribe prod etl_* queued=", "`queued` alone for the default, 15m"),
        ("subscribe prod etl_* failed=1h", "`failed` takes no value: write `failed` alone"),
        ("subscribe prod etl_* import_errors=x", "`import_errors` takes no value"),
        ("subscribe prod etl_* long=1h long=2h", "`long` is named twice, with `1h` and `2h`"),
        (
            "subscribe prod etl_* digest=09:00",
            "`digest=09:00` is not an event: name any of `failed`, `success`, `hitl`, "
            "`long[=&lt;duration&gt;]`, `queued[=&lt;duration&gt;]`, "
            "`late=&lt;HH:MM&gt;[/&lt;zone&gt;]`, `import_errors`, or none for `failed`.",
        ),
        ("subscribe prod etl_* long=<@U0BOSS>", "`&lt;@U0BOSS&gt;` is not a duration"),
    ],
)
def test_a_bad_limit_is_answered_with_the_right_form(text: str, answer: str) -> None:
    err = problem(text)
    assert answer in err.problem
    assert err.usage == "/airflow subscribe [<deployment>] <dag-glob> [<event>...]"


def test_a_verb_whose_arguments_have_no_grammar_is_a_programming_error() -> None:
    odd = dataclasses.replace(REGISTRY["status"], args=(Arg.DAG, Arg.CONF))
    verbs = dataclasses.replace(REGISTRY, verbs=(*REGISTRY.verbs[:3], odd))
    with pytest.raises(ValueError, match="no grammar"):
        parse_command("status prod etl", verbs, deployments=DEPLOYMENTS, default_deployment=None)
