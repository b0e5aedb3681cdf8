"""The permission matrix, end to end: signed slash commands from users in and out of grants and
user groups, in allowed and other channels, on matching and other DAGs, for every verb, against
the real Airflow 3. Every denial leaves Airflow untouched and reaches only the asker; every
allowed command acts. Then the audit trail of the session reads back complete, and survives a
restart of the bot.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.store import Store
from bot.tools.localslack import Call, SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import BotProcess
from testkit.conversation import finished_conversation, visible_text
from tests.conftest import E2E_ENV

OPERATOR, VIEWER, TEAM_MEMBER, OUTSIDER = "U0OPERATOR", "U0VIEWER", "U0TEAMMATE", "U0OUTSIDER"
TEAM_GROUP = "S0ETLTEAM"
OPS, ELSEWHERE, AUDIT = "C0OPS", "C0ELSEWHERE", "C0AUDIT"
TARGET, OTHER_DAG = "pause_target_a", "reporting_weekly"
VERBS = ("list", "status", "trigger", "pause", "unpause")


def matrix_config(af2: AirflowServer, af3: AirflowServer) -> str:
    return f"""
deployments:
  af2: {{url: "{af2.url}", username: admin, password: "${{AF_PASSWORD}}"}}
  af3: {{url: "{af3.url}", username: admin, password: "${{AF_PASSWORD}}"}}
audit_channel: {AUDIT}
grants:
  - {{role: operator, users: [{OPERATOR}]}}
  - {{role: viewer, users: [{VIEWER}]}}
  - role: operator
    usergroups: [{TEAM_GROUP}]
    channels: [{OPS}]
    deployments: [af3]
    dags: ["pause_*", "etl_*"]
"""


@pytest.fixture(scope="module")
def matrix_bot(
    tmp_path_factory: pytest.TempPathFactory,
    slack: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
) -> Iterator[BotProcess]:
    slack.set_usergroup(TEAM_GROUP, [TEAM_MEMBER])
    bot = BotProcess(
        workdir=tmp_path_factory.mktemp("matrix"),
        config=matrix_config(airflow2, airflow3),
        slack_api_url=slack.api_url,
        env=E2E_ENV,
    )
    with bot:
        yield bot
    AirflowProbe(airflow3).delete_runs(TARGET)


@dataclass
class Answer:
    private: bool  # answered only to the asker (through response_url), not in a thread
    text: str


def send(bot: BotProcess, slack: SlackStandin, user: str, channel: str, text: str) -> Answer:
    """Send a command as ``user``; return its private answer (a denial, help, whoami) or what
    the bot said in the thread it opened."""
    slack.reset()
    url = slack.new_response_url()
    status, body = bot.slash(text, user_id=user, channel_id=channel, response_url=url)
    assert (status, body) == (200, "")

    def settled(call: Call) -> bool:
        if call.method == "response_url":
            return call.params.get("_response_url") == url
        p = call.params
        return call.method == "chat.update" and p.get("channel") == channel

    call = slack.wait_for(("response_url", "chat.update"), where=settled, timeout=30)[0]
    if call.method == "response_url":
        assert call.params["response_type"] == "ephemeral"
        in_channel = [
            c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == channel
        ]
        assert in_channel == [], "a private answer must go only to the asker"
        return Answer(private=True, text=visible_text(call.params))
    conv = finished_conversation(slack, channel, header=f"<@{user}> ran `/airflow {text}`")
    return Answer(private=False, text=conv.reply_text)


def command(verb: str, deployment: str, dag: str) -> str:
    return f"list {deployment}" if verb == "list" else f"{verb} {deployment} {dag}"


# who, where, on what -> None when every verb is allowed, else (allowed verbs, denial reason)
CASES = {
    "operator anywhere": (OPERATOR, ELSEWHERE, "af3", TARGET, None),
    "viewer": (VIEWER, OPS, "af3", TARGET, ({"list", "status"}, "None of your grants allows")),
    "group member in its channel": (TEAM_MEMBER, OPS, "af3", TARGET, None),
    "group member in another channel": (
        TEAM_MEMBER, ELSEWHERE, "af3", TARGET, (set(), f"only in <#{OPS}>, not here"),
    ),
    "group member on another deployment": (
        TEAM_MEMBER, OPS, "af2", TARGET, (set(), "only on `af3`, not on `af2`"),
    ),
    "group member on a DAG outside its globs": (
        TEAM_MEMBER, OPS, "af3", OTHER_DAG,
        ({"list"}, f"only DAGs matching `pause_*`, `etl_*`; `{OTHER_DAG}` is not one"),
    ),
    "user in no grant": (OUTSIDER, OPS, "af3", TARGET, (set(), "You have no permissions")),
}  # fmt: skip


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("case", list(CASES))
def test_permission_matrix(
    matrix_bot: BotProcess,
    slack: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    case: str,
    verb: str,
) -> None:
    user, channel, deployment, dag, limits = CASES[case]
    allowed = limits is None or verb in limits[0]
    probe = AirflowProbe(airflow3 if deployment == "af3" else airflow2)
    # Start from the state the verb would change, so that acting is visible.
    if verb in ("pause", "unpause"):
        probe.set_paused(dag, verb == "unpause")
    runs_before = {r["dag_run_id"] for r in probe.runs(dag)}
    paused_before = probe.is_paused(dag)

    answer = send(matrix_bot, slack, user, channel, command(verb, deployment, dag))

    runs_after = {r["dag_run_id"] for r in probe.runs(dag)}
    if not allowed:
        assert limits is not None
        assert answer.private, answer.text
        assert limits[1] in answer.text
        assert f"`{verb}`" in answer.text or "no permissions" in answer.text
        assert (runs_after, probe.is_paused(dag)) == (runs_before, paused_before)
        return
    assert not answer.private, answer.text
    if verb == "trigger":
        [new_run] = runs_after - runs_before
        note = probe.run(dag, new_run).get("note")
        assert note == f"Triggered from Slack by user {user} in channel {channel}"
    else:
        assert runs_after == runs_before
    if verb in ("pause", "unpause"):
        assert probe.is_paused(dag) is (verb == "pause")
    if verb == "list":
        assert TARGET in answer.text
        if user == TEAM_MEMBER:  # the globs narrow what the list shows
            assert OTHER_DAG not in answer.text and "etl_daily" in answer.text
            assert "Only the DAGs your grants let you see are listed." in answer.text
        else:
            assert OTHER_DAG in answer.text


def test_help_and_whoami_show_only_what_the_asker_may_do(
    matrix_bot: BotProcess, slack: SlackStandin
) -> None:
    viewer_help = send(matrix_bot, slack, VIEWER, OPS, "help")
    assert viewer_help.private
    assert "/airflow list" in viewer_help.text and "/airflow trigger" not in viewer_help.text

    member_elsewhere = send(matrix_bot, slack, TEAM_MEMBER, ELSEWHERE, "help")
    assert "/airflow trigger" not in member_elsewhere.text
    member_here = send(matrix_bot, slack, TEAM_MEMBER, OPS, "whoami")
    assert f"<!subteam^{TEAM_GROUP}>" in member_here.text
    assert "`pause_*`" in member_here.text and "af3" in member_here.text
    assert "trigger" in member_here.text

    outsider = send(matrix_bot, slack, OUTSIDER, OPS, "whoami")
    assert "no permissions" in outsider.text.lower() or "nothing" in outsider.text.lower()


def test_the_audit_trail_reads_back_complete_and_survives_a_restart(
    tmp_path: Path,
    slack: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
) -> None:
    bot = BotProcess(
        workdir=tmp_path,
        config=matrix_config(airflow2, airflow3),
        slack_api_url=slack.api_url,
        env=E2E_ENV,
    )
    probe = AirflowProbe(airflow3)
    slack.set_usergroup(TEAM_GROUP, [TEAM_MEMBER])
    session = [
        (OPERATOR, ELSEWHERE, 'trigger af3 pause_target_a 2022-11-16T11:34:00Z {"k": 1}'),
        (OUTSIDER, OPS, "pause af3 pause_target_a"),
        (TEAM_MEMBER, OPS, f"unpause af3 {OTHER_DAG}"),
        (OPERATOR, OPS, "status af3 no_such_dag"),
        (VIEWER, OPS, "list af3"),
    ]
    try:
        answers, audit_posts = [], []
        with bot:
            for user, channel, text in session:
                answers.append(send(bot, slack, user, channel, text))
                audit_posts += [
                    c.params["text"]
                    for c in slack.calls_to("chat.postMessage")
                    if c.params["channel"] == AUDIT
                ]
        assert [a.private for a in answers] == [False, True, True, False, False]

        store = Store(bot.env["DATABASE_URL"])  # read after the bot has stopped: it was written
        entries = list(reversed(store.audit()))
        store.close()
        assert [(e.user_id, e.channel_id, e.text) for e in entries] == [
            (user, channel, text) for user, channel, text in session
        ]
        trigger, pause, unpause, status, listing = entries
        assert (trigger.verb, trigger.deployment, trigger.dag_id) == ("trigger", "af3", TARGET)
        assert trigger.logical_date is not None
        assert trigger.logical_date.isoformat() == "2022-11-16T11:34:00+00:00"
        assert trigger.conf == {"k": 1} and trigger.allowed and trigger.ok
        assert trigger.run_id is not None
        assert trigger.run_id in {r["dag_run_id"] for r in probe.runs(TARGET)}
        assert (pause.allowed, pause.ok, pause.outcome) == (False, False, "denied")
        assert pause.error is not None and "no permissions" in pause.error
        assert (unpause.allowed, unpause.outcome) == (False, "denied")
        assert unpause.error is not None and OTHER_DAG in unpause.error
        assert status.allowed and status.ok is False
        assert status.error is not None and "no_such_dag" in status.error
        assert listing.allowed and listing.ok and listing.verb == "list"
        assert all(e.finished_at is not None for e in entries)

        # Actions on Airflow, and their denials, were also posted to the audit channel.
        assert audit_posts == [
            f"<@{OPERATOR}> in <#{ELSEWHERE}>: `/airflow {session[0][2]}` "
            f":white_check_mark: triggered run `{trigger.run_id}`",
            f"<@{OUTSIDER}> in <#{OPS}>: `/airflow {session[1][2]}` :no_entry: denied",
            f"<@{TEAM_MEMBER}> in <#{OPS}>: `/airflow {session[2][2]}` :no_entry: denied",
        ]

        # A restart keeps the trail, and adds to it.
        with bot.start():
            send(bot, slack, VIEWER, OPS, "status af3 etl_daily")
        store = Store(bot.env["DATABASE_URL"])
        after = list(reversed(store.audit()))
        store.close()
        assert [e.id for e in after[:5]] == [e.id for e in entries]
        assert after[5].text == "status af3 etl_daily" and after[5].ok
    finally:
        probe.delete_runs(TARGET)
