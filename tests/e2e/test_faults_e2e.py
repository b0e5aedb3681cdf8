"""Faults, end to end: what the user sees, and that nothing is lost or done twice.

Airflow failing (500, 429, hanging past the timeout) is played by a proxy in front of the real
Airflow 3 that answers instead of forwarding; Slack's faults are the stand-in's; the bot runs
as the Procfile runs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.tools.localslack import SlackStandin
from bot.tools.signing import block_actions_body, post_signed, slash_command_body
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import SIGNING_SECRET, BotProcess
from testkit.conversation import finished_conversation, visible_text
from testkit.delay_proxy import DelayProxy
from tests.conftest import E2E_ENV

USER, CHANNEL = "U0ALICE", "C0FAULTS"
DAG = "manual_only"


@pytest.fixture(scope="module")
def proxy(airflow3: AirflowServer) -> Iterator[DelayProxy]:
    with DelayProxy(airflow3.url, delay=0) as p:
        yield p


def config(af3: AirflowServer, proxy: DelayProxy) -> str:
    auth = 'username: admin, password: "${AF_PASSWORD}"'
    return f"""
deployments:
  flaky: {{url: "{proxy.url}", {auth}, api_version: v2, timeout: 2}}
  guarded: {{url: "{af3.url}", {auth}, confirm: true}}
grants:
  - {{role: operator, users: [{USER}]}}
"""


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory,
    slack: SlackStandin,
    airflow3: AirflowServer,
    proxy: DelayProxy,
) -> Iterator[BotProcess]:
    process = BotProcess(
        workdir=tmp_path_factory.mktemp("faults"),
        config=config(airflow3, proxy),
        slack_api_url=slack.api_url,
        env=E2E_ENV,
    )
    with process:
        yield process
    AirflowProbe(airflow3).delete_runs(DAG)


def run(bot: BotProcess, slack: SlackStandin, text: str) -> str:
    slack.reset()
    assert bot.slash(text, user_id=USER, channel_id=CHANNEL) == (200, "")
    conv = finished_conversation(slack, CHANNEL, header=f"<@{USER}> ran `/airflow {text}`")
    return conv.reply_text


def test_airflow_answering_500_is_said_and_the_bot_keeps_serving(
    bot: BotProcess, slack: SlackStandin, proxy: DelayProxy
) -> None:
    # Reads are retried: three failures in a row exhaust the retries.
    for _ in range(3):
        proxy.fail_next("GET", "/api/v2/dags?", 500)
    said = run(bot, slack, "list flaky")
    assert "Airflow on `flaky` is not answering" in said
    assert "manual_only" in run(bot, slack, "list flaky manual")  # and then it works again


def test_a_failed_trigger_is_never_sent_twice(
    bot: BotProcess, slack: SlackStandin, proxy: DelayProxy, airflow3: AirflowServer
) -> None:
    probe = AirflowProbe(airflow3)
    before = len(probe.runs(DAG))
    proxy.fail_next("POST", f"/api/v2/dags/{DAG}/dagRuns", 503)
    sent = len(proxy.seen)
    said = run(bot, slack, f"trigger flaky {DAG}")
    assert "is not answering" in said and f"/airflow status flaky {DAG}" in said
    posts = [s for s in proxy.seen[sent:] if s == ("POST", f"/api/v2/dags/{DAG}/dagRuns")]
    assert len(posts) == 1, "a trigger is sent once, whatever the answer"
    assert len(probe.runs(DAG)) == before


def test_airflow_rate_limiting_says_when_to_try_again(
    bot: BotProcess, slack: SlackStandin, proxy: DelayProxy, airflow3: AirflowServer
) -> None:
    probe = AirflowProbe(airflow3)
    before = len(probe.runs(DAG))
    proxy.fail_next("POST", f"/api/v2/dags/{DAG}/dagRuns", 429, {"Retry-After": "30"})
    said = run(bot, slack, f"trigger flaky {DAG}")
    assert "Airflow on `flaky` is rate limiting the bot. Try again in 30 s." in said
    assert len(probe.runs(DAG)) == before


def test_airflow_hanging_past_the_timeout_is_said_within_it(
    bot: BotProcess, slack: SlackStandin, proxy: DelayProxy
) -> None:
    proxy.delay = 5  # the deployment's timeout is 2 s
    try:
        started = time.monotonic()
        said = run(bot, slack, "status flaky manual_only")
        took = time.monotonic() - started
    finally:
        proxy.delay = 0
    assert "is not answering" in said
    assert took < 2 * 3 + 3, f"answered after {took:.1f} s"  # 2 s timeout, a few read retries


def test_a_replayed_request_acts_once(
    bot: BotProcess, slack: SlackStandin, airflow3: AirflowServer
) -> None:
    probe = AirflowProbe(airflow3)
    before = len(probe.runs(DAG))
    slack.reset()
    body = slash_command_body(text=f"trigger guarded {DAG}", user_id=USER, channel_id=CHANNEL,
                              response_url=slack.new_response_url())  # fmt: skip
    timestamp = int(time.time())
    first = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, timestamp=timestamp)
    again = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, timestamp=timestamp)
    assert first == (200, "") and again == (200, "")
    time.sleep(2)
    parents = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.params]
    assert len(parents) == 1, "the same signed request must act once"
    assert len(probe.runs(DAG)) == before  # guarded: a confirmation, nothing more
    entries = Store(bot.env["DATABASE_URL"]).audit(limit=5)
    assert [e.text for e in entries].count(f"trigger guarded {DAG}") == 1


def test_a_confirmation_survives_a_restart_and_is_confirmed_once(
    tmp_path: Path, slack: SlackStandin, airflow3: AirflowServer, proxy: DelayProxy
) -> None:
    probe = AirflowProbe(airflow3)
    before = {r["dag_run_id"] for r in probe.runs(DAG)}
    bot = BotProcess(workdir=tmp_path, config=config(airflow3, proxy),
                     slack_api_url=slack.api_url, env=E2E_ENV)  # fmt: skip
    with bot:
        slack.reset()
        text = f"trigger guarded {DAG}"
        assert bot.slash(text, user_id=USER, channel_id=CHANNEL) == (200, "")
        conv = finished_conversation(slack, CHANNEL, header=f"<@{USER}> ran `/airflow {text}`")
        [prompt] = conv.replies
        bot.kill()  # between the confirmation and its click
        bot.start()
        confirm = next(
            e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e["text"]["text"] == "Confirm"
        )  # fmt: skip
        for _ in range(2):  # and Slack delivers the click twice
            body = block_actions_body(
                message_ts=prompt["ts"], action_id="confirm", value=confirm["value"],
                response_url=slack.new_response_url(channel=CHANNEL, message_ts=prompt["ts"]),
                user_id=USER, channel_id=CHANNEL, thread_ts=prompt["thread_ts"],
                message=prompt, block_id="decision",
            )  # fmt: skip
            assert post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET) == (200, "")
        slack.wait_for("chat.update", where=lambda c: c.params.get("ts") == prompt["ts"])
        time.sleep(1)
    new = {r["dag_run_id"] for r in probe.runs(DAG)} - before
    assert new == {f"slack__{confirm['value']}"}
    assert "Triggered" in visible_text(slack.message(CHANNEL, prompt["ts"]))


def test_a_request_replayed_to_another_process_on_the_store_acts_once(
    tmp_path: Path, slack: SlackStandin, airflow3: AirflowServer, proxy: DelayProxy
) -> None:
    shared = {**E2E_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = BotProcess(workdir=tmp_path / "a", config=config(airflow3, proxy),
                       slack_api_url=slack.api_url, env=shared)  # fmt: skip
    second = BotProcess(workdir=tmp_path / "b", config=config(airflow3, proxy),
                        slack_api_url=slack.api_url, env=shared)  # fmt: skip
    with first, second:
        slack.reset()
        body = slash_command_body(text="list flaky manual", user_id=USER, channel_id=CHANNEL,
                                  response_url=slack.new_response_url())  # fmt: skip
        timestamp = int(time.time())
        for bot in (first, second):
            sent = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, timestamp=timestamp)
            assert sent == (200, "")
        time.sleep(3)
    parents = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.params]
    assert len(parents) == 1
