"""What reaches Slack: no mention, channel ping or link exists unless the bot's code made it.

Whatever a user types, Airflow returns or the config holds is escaped where it is rendered
(issue 13, item 2). The real bot runs in process (testkit.flow) against a scripted Airflow
whose DAG ids, descriptions, run notes and error messages are hostile; every call it makes to Slack,
and every ack, is searched for live markup.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.reply import code, code_block, escape, link
from testkit.fake_http import Response
from testkit.flow import API, FlowBot, ScriptedAirflow, StartFlow, deployment

GRANTED, VIEWER, NOBODY = "U0ALICE", "U0VIEWER", "U0NOBODY"
CHANNEL, AUDIT = "C0FLOW", "C0AUDIT"
# Markup Slack makes live: a mention, a channel or group ping, a channel link, a URL.
LIVE = re.compile(r"<(?:[!@#]|http)[^>]*>?")

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0BOSS>",
    "<@U0BOSS>",
    "<#C0SECRET>",
    "<https://evil.example/reset|Airflow password expired: re-login here>",
    "<http://evil.example>",
    "&lt;!channel&gt;",  # as Slack sends a typed "<": the parser unescapes it
    "&amp;lt;!here&amp;gt;",
    "`",
    "```",
    "|",
    "<",
    ">",
    "&",
    "\n",
    " ",
    "*",
    "_",
]
text_strategy = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=6)), max_size=6
).map("".join)


@pytest.fixture(scope="module")
def airflow(module_airflow: ScriptedAirflow) -> ScriptedAirflow:
    return module_airflow


@pytest.fixture(scope="module")
def flow(start_module_flow: StartFlow, airflow: ScriptedAirflow) -> FlowBot:
    config = f"""
deployments:
  prod: {deployment(airflow)}
  guarded: {deployment(airflow, confirm=True)}
channels:
  {CHANNEL}: prod
grants:
  - {{role: operator, users: [{GRANTED}]}}
  - {{role: viewer, users: [{VIEWER}]}}
audit_channel: {AUDIT}
"""
    return start_module_flow(config)


@pytest.fixture(autouse=True)
def fresh_airflow(airflow: ScriptedAirflow) -> None:
    airflow.dags.clear()
    airflow.add_dag("etl_daily", description="Loads the warehouse")


def foreign_markup(texts: list[str], airflow: ScriptedAirflow) -> list[str]:
    """Live markup in ``texts`` that the bot did not make: anything but a mention of a user of
    these tests, a link to the channel asked in, and links to the configured Airflow."""
    ours = re.compile(re.escape(airflow.url) + r"/[^\s|<>]*\|[^|<>]*")
    allowed = {f"<@{u}>" for u in (GRANTED, VIEWER, NOBODY)} | {f"<#{CHANNEL}>"}
    found = []
    for text in texts:
        for match in LIVE.finditer(text):
            markup = match.group()
            if markup in allowed or ours.fullmatch(markup[1:-1]):
                continue
            found.append(markup)
    return found


class Said:
    """What the bot says from now on: its calls to Slack, and the acks of the commands sent."""

    def __init__(self, flow: FlowBot) -> None:
        self.flow = flow
        self.start = len(flow.slack.calls)
        self.acks: list[str] = []

    def command(self, text: str, *, user: str = GRANTED) -> None:
        """Sent without waiting for the bot's work: ``texts`` waits for all of it at once."""
        url = self.flow.slack.new_response_url(channel=CHANNEL)
        answer = self.flow.local.slash(text, user=user, channel=CHANNEL, response_url=url)
        self.acks.append(answer.body)

    def texts(self) -> list[str]:
        self.flow.settle()
        return self.flow.everything_said()[self.start :] + self.acks

    def in_channel(self, channel: str) -> list[str]:
        self.flow.settle()
        calls = self.flow.slack.calls[self.start :]
        return [json.dumps(c.params) for c in calls if c.params.get("channel") == channel]


# -- the three reproductions ------------------------------------------------------


def test_a_denial_in_the_audit_channel_carries_no_live_ping_or_link(
    flow: FlowBot, airflow: ScriptedAirflow
) -> None:
    said = Said(flow)
    said.command(
        'trigger etl_daily {"x":"` <!channel> <https://evil.example/reset|Airflow password '
        'expired: re-login here> `"}',
        user=NOBODY,
    )
    audit = said.in_channel(AUDIT)
    assert audit, "the denial is posted to the audit channel"
    assert "denied" in audit[0]
    assert "<!channel>" not in audit[0] and "<https://evil" not in audit[0]
    assert "&lt;!channel&gt;" in audit[0]  # shown as typed, not acted on
    assert foreign_markup(said.texts(), airflow) == []


def test_a_typed_run_id_cannot_close_its_code_span(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    said = Said(flow)
    said.command("status etl_daily a`<!here>`b", user=VIEWER)
    # No run id has a backtick (bot/core/parser.py checks them as Airflow does): the usage answer
    # names what was typed, inside a code span it cannot close.
    [ack] = said.acks
    assert "`aˋ&lt;!here&gt;ˋb` is not a run id" in json.loads(ack)["text"]
    assert not any("<!here>" in t for t in said.texts())
    assert foreign_markup(said.texts(), airflow) == []


def test_a_typed_link_is_shown_as_text(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    said = Said(flow)
    said.command("list <https://evil.example|https://airflow.corp/login>")
    texts = said.texts()
    assert not any("<https://evil.example" in t for t in texts)
    assert any("&lt;https://evil.example|https://airflow.corp/login&gt;" in t for t in texts)
    assert foreign_markup(texts, airflow) == []


# -- the helpers ---------------------------------------------------------------------------


@given(st.text())
@settings(max_examples=200)
def test_code_spans_and_blocks_cannot_be_left_or_carry_markup(value: str) -> None:
    span = code(value)
    assert span.startswith("`") and span.endswith("`") and span.count("`") == 2
    assert "\n" not in span
    block = code_block(value)
    assert block.startswith("```\n") and block.endswith("\n```") and block.count("`") == 6
    for shown in (span, block, escape(value)):
        assert "<" not in shown and ">" not in shown


@given(st.text(), st.text())
@settings(max_examples=200)
def test_a_link_has_one_target_and_one_label_whatever_they_hold(url: str, label: str) -> None:
    made = link(url, label)
    assert made.startswith("<") and made.endswith(">")
    inner = made[1:-1]
    assert "<" not in inner and ">" not in inner and inner.count("|") == 1


def test_links_to_airflow_quote_what_airflow_named(flow: FlowBot) -> None:
    client = flow.local.bot.clients["prod"]
    for url in (
        client.dag_url("x|<!channel>"),
        client.run_url("x|<!channel>", "r|<!here> &"),
    ):
        assert not set(url) & set("|<> ")


# -- the property: for any input, no markup the bot did not make --------------------------

PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@given(text=text_strategy)
@PROPERTY
def test_commands_a_granted_user_types(flow: FlowBot, airflow: ScriptedAirflow, text: str) -> None:
    said = Said(flow)
    said.command(text)  # as a verb: a usage error, mostly
    said.command(f"list {text}")
    said.command(f"status etl_daily {text}")
    said.command(f"trigger etl_daily {json.dumps({'x': text})}")
    said.command(f"trigger guarded etl_daily {json.dumps({text: [text]})}")
    said.command(f"pause {text}")
    assert foreign_markup(said.texts(), airflow) == []


@given(text=text_strategy)
@PROPERTY
def test_commands_a_user_without_a_grant_types(
    flow: FlowBot, airflow: ScriptedAirflow, text: str
) -> None:
    said = Said(flow)
    said.command(f"trigger etl_daily {json.dumps({'x': text})}", user=NOBODY)
    said.command(f"pause etl_daily {text}", user=NOBODY)
    said.command(f"trigger etl_daily {json.dumps({'x': text})}", user=VIEWER)
    said.command(f"help {text}", user=NOBODY)
    assert foreign_markup(said.texts(), airflow) == []


@given(text=text_strategy)
@PROPERTY
def test_what_airflow_says(flow: FlowBot, airflow: ScriptedAirflow, text: str) -> None:
    airflow.dags.clear()
    airflow.add_dag("etl_daily", description=text)
    airflow.add_dag(f"etl_{text}", description=text, is_paused=True)
    noted = airflow.add_dag("noted", description=text)
    noted.runs["r1"] = {
        "dag_id": "noted",
        "dag_run_id": "r1",
        "state": text or "failed",
        "logical_date": None,
        "run_after": "2024-01-01T00:00:00+00:00",
        "start_date": None,
        "end_date": None,
        "run_type": "manual",
        "conf": {},
        "note": text,
    }
    noted.runs[f"r{text}"] = {**noted.runs["r1"], "dag_run_id": f"r{text}"}
    airflow.http.route("GET", f"{API}/dags/refused/dagRuns", Response(400, {"detail": text}))
    airflow.http.route("GET", f"{API}/dags/gone", Response(404, {"detail": text}))
    airflow.http.route("POST", f"{API}/dags/noted/dagRuns", Response(409, {"detail": text}))

    said = Said(flow)
    said.command("list")
    said.command("list etl")
    said.command("status noted")
    said.command("status noted r1")
    said.command("status refused")
    said.command("pause gone")  # not found: "did you mean" names Airflow's DAG ids
    said.command("trigger noted")
    assert foreign_markup(said.texts(), airflow) == []


def test_buttons_under_hostile_airflow_text(flow: FlowBot, airflow: ScriptedAirflow) -> None:
    hostile = "<!channel> `x` <https://evil.example|login>"
    dag = airflow.add_dag("etl_<!here>", description=hostile)
    dag.runs["r<!here>"] = {
        "dag_id": dag.dag_id,
        "dag_run_id": "r<!here>",
        "state": "failed",
        "logical_date": None,
        "run_after": "2024-01-01T00:00:00+00:00",
        "start_date": None,
        "end_date": None,
        "run_type": "manual",
        "conf": {},
        "note": hostile,
    }
    said = Said(flow)
    said.command("list etl_")
    flow.settle()
    listing = [m for m in flow.said(CHANNEL) if "thread_ts" in m][-1]
    for action in ("runs", "pause"):
        flow.click(listing, action, user=GRANTED, channel=CHANNEL)
    assert foreign_markup(said.texts(), airflow) == []
