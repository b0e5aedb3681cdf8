"""Buttons, the trigger form, confirmations and approvals, end to end against the real Airflow 3.

Every click here is on a button the bot really posted (read from the stand-in's record) and is
sent as a signed ``block_actions`` payload like Slack's; Airflow is checked for what happened.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.tools.localslack import Call, SlackStandin
from bot.tools.signing import block_actions_body, post_signed, view_submission_body
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import finished_conversation, visible_text
from tests.conftest import E2E_ENV

ALICE, CAROL, VIEWER = "U0ALICE", "U0CAROL", "U0VIEWER"
APPROVERS = "S0APPROVERS"
CHANNEL = "C0BUTTONS"
DAG = "manual_only"
TOGGLE = "pause_target_b"


def config(af3: AirflowServer) -> str:
    auth = 'username: admin, password: "${AF_PASSWORD}"'
    return f"""
deployments:
  af3: {{url: "{af3.url}", {auth}}}
  guarded: {{url: "{af3.url}", {auth}, confirm: true}}
  brief: {{url: "{af3.url}", {auth}, confirm: true, confirm_timeout: 1}}
  foureyes: {{url: "{af3.url}", {auth}, approvers: [{APPROVERS}]}}
grants:
  - {{role: operator, users: [{ALICE}], usergroups: [{APPROVERS}]}}
  - {{role: viewer, users: [{VIEWER}]}}
"""


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, slack: SlackStandin, airflow3: AirflowServer
) -> Iterator[BotProcess]:
    slack.set_usergroup(APPROVERS, [CAROL])
    process = BotProcess(
        workdir=tmp_path_factory.mktemp("buttons"),
        config=config(airflow3),
        slack_api_url=slack.api_url,
        env=E2E_ENV,
    )
    with process:
        yield process
    AirflowProbe(airflow3).delete_runs(DAG)


@pytest.fixture
def probe(airflow3: AirflowServer) -> AirflowProbe:
    return AirflowProbe(airflow3)


def command(
    bot: BotProcess, slack: SlackStandin, text: str, user: str = ALICE
) -> list[dict[str, Any]]:
    """Send a slash command; return the replies in the thread it opened."""
    slack.reset()
    status, body = bot.slash(text, user_id=user, channel_id=CHANNEL)
    assert (status, body) == (200, "")
    conv = finished_conversation(slack, CHANNEL, header=f"<@{user}> ran `/airflow {text}`")
    return conv.replies


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by label, each with its action block's id."""
    found = {}
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block["elements"]:
                found[element["text"]["text"]] = {**element, "block_id": block.get("block_id")}
    return found


def dag_buttons(message: dict[str, Any], dag_id: str) -> dict[str, dict[str, Any]]:
    """The buttons under one DAG's line in a list."""
    blocks = message["blocks"]
    for i, block in enumerate(blocks):
        if block.get("type") == "section" and f"|{dag_id}>*" in block["text"]["text"]:
            return buttons({"blocks": [blocks[i + 1]]})
    raise AssertionError(f"{dag_id} is not in the list: {visible_text(message)}")


def click(
    bot: BotProcess,
    slack: SlackStandin,
    message: dict[str, Any],
    button: dict[str, Any],
    user: str = ALICE,
) -> str:
    """Click ``button`` on ``message`` as ``user``; returns the click's response_url."""
    url = slack.new_response_url(channel=CHANNEL, message_ts=message["ts"])
    body = block_actions_body(
        message_ts=message["ts"],
        action_id=button["action_id"],
        value=button.get("value", ""),
        response_url=url,
        user_id=user,
        channel_id=CHANNEL,
        thread_ts=message.get("thread_ts"),
        block_id=button["block_id"] or "actions",
        message=message,
        button_text=button["text"]["text"],
    )
    status, text = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET)
    assert (status, text) == (200, "")
    return url


def private_answer(slack: SlackStandin, url: str, timeout: float = 30) -> str:
    def to_url(call: Call) -> bool:
        return call.params.get("_response_url") == url

    call = slack.wait_for("response_url", where=to_url, timeout=timeout)[0]
    assert call.params.get("response_type", "ephemeral") == "ephemeral"
    return visible_text(call.params)


def wait_replaced(
    slack: SlackStandin, message: dict[str, Any], timeout: float = 30
) -> dict[str, Any]:
    """The message after the bot rewrote it (chat.update on its ts)."""
    slack.wait_for(
        "chat.update", where=lambda c: c.params.get("ts") == message["ts"], timeout=timeout
    )
    return slack.message(CHANNEL, message["ts"])


def new_reply(
    slack: SlackStandin, parent_ts: str, count: int, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = slack.thread(CHANNEL, parent_ts)
        if len(replies) >= count:
            return replies[count - 1]
        time.sleep(0.05)
    raise AssertionError(f"no reply #{count} in the thread: {slack.thread(CHANNEL, parent_ts)}")


# -- list buttons ----------------------------------------------------------------------------


def test_list_buttons_carry_only_opaque_ids_and_act_for_a_permitted_clicker(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    probe.set_paused(TOGGLE, False)
    [listing] = command(bot, slack, "list af3")
    mine = dag_buttons(listing, TOGGLE)
    assert set(mine) == {"Trigger…", "Pause", "Runs", "Open in Airflow"}
    assert mine["Open in Airflow"]["url"].endswith(f"/dags/{TOGGLE}")
    for button in buttons(listing).values():
        if "value" in button:
            assert re.fullmatch(r"[0-9a-f]{24}", button["value"]), button

    click(bot, slack, listing, mine["Pause"])
    answer = new_reply(slack, listing["thread_ts"], 2)
    assert "Paused" in visible_text(answer)
    assert probe.is_paused(TOGGLE) is True


def test_an_unpermitted_clicker_is_refused_and_nothing_happens(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    probe.set_paused(TOGGLE, False)
    [listing] = command(bot, slack, "list af3")
    url = click(bot, slack, listing, dag_buttons(listing, TOGGLE)["Pause"], user=VIEWER)
    assert "None of your grants allows `pause`" in private_answer(slack, url)
    assert probe.is_paused(TOGGLE) is False
    assert len(slack.thread(CHANNEL, listing["thread_ts"])) == 1  # nothing said in the thread


def test_runs_button_shows_the_runs_and_refresh_rewrites_them_in_place(
    bot: BotProcess, slack: SlackStandin
) -> None:
    command(bot, slack, f"trigger af3 {DAG}")  # so that there is a run to show
    [listing] = command(bot, slack, "list af3 manual")
    click(bot, slack, listing, dag_buttons(listing, DAG)["Runs"])
    runs = new_reply(slack, listing["thread_ts"], 2)
    assert "Recent runs of" in visible_text(runs) and DAG in visible_text(runs)
    assert buttons(runs)["Open in Airflow"]["url"].endswith(f"/dags/{DAG}")
    click(bot, slack, runs, buttons(runs)["Refresh"])
    refreshed = wait_replaced(slack, runs)
    assert "Recent runs of" in visible_text(refreshed) and "Refresh" in buttons(refreshed)
    assert len(slack.thread(CHANNEL, listing["thread_ts"])) == 2  # in place, not a new reply


# -- the trigger form ------------------------------------------------------------------------


def open_form(bot: BotProcess, slack: SlackStandin) -> tuple[dict[str, Any], dict[str, Any]]:
    [listing] = command(bot, slack, "list af3 manual")
    click(bot, slack, listing, dag_buttons(listing, DAG)["Trigger…"])
    opened = slack.wait_for("views.open", timeout=30)[0].params
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    assert opened["trigger_id"]
    return listing, view


def submit(bot: BotProcess, view: dict[str, Any], values: dict[str, Any]) -> str:
    body = view_submission_body(
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        values=values,
        user_id=ALICE,
    )
    status, text = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET)
    assert status == 200
    return text


def form_values(conf: str | None = None, when: int | None = None) -> dict[str, Any]:
    return {
        "logical_date": {"value": {"type": "datetimepicker", "selected_date_time": when}},
        "conf": {"value": {"type": "plain_text_input", "value": conf}},
    }


def test_the_trigger_form_shows_its_errors_beside_the_field(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    _, view = open_form(bot, slack)
    assert {b.get("block_id") for b in view["blocks"]} >= {"logical_date", "conf"}
    before = len(probe.runs(DAG))
    for bad in ("[1, 2]", "{not json"):
        answer = json.loads(submit(bot, view, form_values(conf=bad)))
        assert answer["response_action"] == "errors"
        assert set(answer["errors"]) == {"conf"}
        assert answer["errors"]["conf"]
    time.sleep(0.5)
    assert len(probe.runs(DAG)) == before


def test_the_trigger_form_triggers_with_the_date_and_conf_given(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    listing, view = open_form(bot, slack)
    when = 1668598440  # 2022-11-16T11:34:00Z
    assert submit(bot, view, form_values(conf="{“full_refresh”: true}", when=when)) == ""
    answer = new_reply(slack, listing["thread_ts"], 2)
    assert "Triggered" in visible_text(answer)
    [run] = [r for r in probe.runs(DAG) if r["dag_run_id"].startswith("slack__")
             and r["conf"] == {"full_refresh": True}]  # fmt: skip
    assert run["logical_date"].startswith("2022-11-16T11:34:00")


# -- confirmations ---------------------------------------------------------------------------


def test_nothing_reaches_airflow_before_confirm_and_confirm_triggers_once(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    before = {r["dag_run_id"] for r in probe.runs(DAG)}
    [prompt] = command(bot, slack, f"trigger guarded {DAG}")
    assert "Confirm" in visible_text(prompt) and "guarded" in visible_text(prompt)
    parent = slack.message(CHANNEL, prompt["thread_ts"])
    assert "awaiting confirmation" in parent["text"]
    assert {r["dag_run_id"] for r in probe.runs(DAG)} == before
    confirm = buttons(prompt)["Confirm"]

    # Ten people (or one impatient one, or Slack redelivering) click at the same moment.
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: click(bot, slack, prompt, confirm), range(10)))
    done = wait_replaced(slack, prompt)
    deadline = time.monotonic() + 30
    while len(slack.calls_to("response_url")) < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    told = [visible_text(c.params) for c in slack.calls_to("response_url")]
    assert len(told) == 9 and all("Already" in t for t in told), told

    new = {r["dag_run_id"] for r in probe.runs(DAG)} - before
    assert new == {f"slack__{confirm['value']}"}
    assert buttons(done) == {}, "the buttons are replaced by the outcome"
    assert "Triggered" in visible_text(done) and f"confirmed by <@{ALICE}>" in visible_text(done)
    slack.wait_for("chat.update", count=2, where=lambda c: c.params.get("ts") == parent["ts"])
    assert ":white_check_mark:" in slack.message(CHANNEL, parent["ts"])["text"]


def test_cancel_does_nothing_and_a_later_confirm_is_refused(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    before = len(probe.runs(DAG))
    [prompt] = command(bot, slack, f"trigger guarded {DAG}")
    click(bot, slack, prompt, buttons(prompt)["Cancel"])
    assert "Cancelled" in visible_text(wait_replaced(slack, prompt))
    url = click(bot, slack, prompt, buttons(prompt)["Confirm"])
    assert "Already cancelled" in private_answer(slack, url)
    assert len(probe.runs(DAG)) == before


def test_an_expired_confirmation_does_nothing(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    before = len(probe.runs(DAG))
    [prompt] = command(bot, slack, f"trigger brief {DAG}")
    time.sleep(1.5)  # brief: confirm_timeout 1 s
    url = click(bot, slack, prompt, buttons(prompt)["Confirm"])
    assert "expired" in private_answer(slack, url)
    assert "expired" in visible_text(wait_replaced(slack, prompt))
    assert len(probe.runs(DAG)) == before


def test_an_unpermitted_user_cannot_confirm(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    before = len(probe.runs(DAG))
    [prompt] = command(bot, slack, f"trigger guarded {DAG}")
    url = click(bot, slack, prompt, buttons(prompt)["Confirm"], user=VIEWER)
    assert "None of your grants allows `trigger`" in private_answer(slack, url)
    assert len(probe.runs(DAG)) == before
    assert buttons(slack.message(CHANNEL, prompt["ts"])), "the confirmation still stands"


# -- approvals -------------------------------------------------------------------------------


def test_an_approval_needs_an_approver_other_than_the_requester(
    bot: BotProcess, slack: SlackStandin, probe: AirflowProbe
) -> None:
    before = {r["dag_run_id"] for r in probe.runs(DAG)}
    [prompt] = command(bot, slack, f"trigger foureyes {DAG}")
    assert "Approval needed" in visible_text(prompt)
    approve = buttons(prompt)["Approve"]

    own = click(bot, slack, prompt, approve, user=ALICE)
    assert "cannot approve your own request" in private_answer(slack, own)
    outsider = click(bot, slack, prompt, approve, user=VIEWER)
    assert "Only an approver" in private_answer(slack, outsider)
    assert {r["dag_run_id"] for r in probe.runs(DAG)} == before

    click(bot, slack, prompt, approve, user=CAROL)
    done = visible_text(wait_replaced(slack, prompt))
    assert f"Requested by <@{ALICE}>" in done and f"approved by <@{CAROL}>" in done
    [run_id] = {r["dag_run_id"] for r in probe.runs(DAG)} - before
    note = probe.run(DAG, run_id)["note"]
    assert (
        note
        == f"Triggered from Slack by user {ALICE} in channel {CHANNEL}, approved by user {CAROL}"
    )
