"""/airflow end to end: the Procfile's server, signed requests, Slack stand-in, real Airflows."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from bot.tools.localslack import SlackStandin
from testkit.airflow_harness import AirflowServer
from testkit.airflow_probe import AirflowProbe
from testkit.bot_process import BotProcess
from testkit.conversation import finished_conversation, visible_text
from testkit.delay_proxy import DelayProxy
from tests.conftest import DOWN_TIMEOUT, E2E_ENV, OPERATOR_GRANT, e2e_config

USER = "U0ALICE"


@pytest.fixture(params=["af2", "af3"])
def deployment(
    request: pytest.FixtureRequest, airflow2: AirflowServer, airflow3: AirflowServer
) -> tuple[str, AirflowProbe]:
    server = airflow2 if request.param == "af2" else airflow3
    return request.param, AirflowProbe(server)


def run(bot: BotProcess, slack: SlackStandin, text: str, channel: str = "C0GENERAL") -> str:
    """Send a command; return what the bot said in the thread it opened for it."""
    slack.reset()  # so an earlier, identical command's thread cannot be mistaken for this one
    status, body = bot.slash(text, channel_id=channel, user_id=USER)
    assert status == 200, body
    assert body == "", f"an action's ack should be empty, got {body!r}"
    conv = finished_conversation(slack, channel, header=f"<@{USER}> ran `/airflow {text}`")
    return conv.reply_text


# -- answered in the ack, only to the asker ---------------------------------------------------


def test_help_is_ephemeral_and_posts_nothing(bot: BotProcess, slack_fresh: SlackStandin) -> None:
    status, body = bot.slash("help", response_url=slack_fresh.new_response_url())
    assert (status, body) == (200, "")
    answer = slack_fresh.wait_for("response_url")[0].params
    assert answer["response_type"] == "ephemeral"
    assert "/airflow trigger [&lt;deployment&gt;] &lt;dag_id&gt;" in visible_text(answer)
    assert slack_fresh.calls_to("chat.postMessage") == []


def test_a_usage_error_says_what_was_wrong_and_the_right_form(
    bot: BotProcess, slack_fresh: SlackStandin
) -> None:
    status, body = bot.slash("trigger af3 etl_daily 2022-11-16T11:34:00")
    ack = json.loads(body)
    assert status == 200
    assert ack["response_type"] == "ephemeral"
    assert "no time zone" in ack["text"]
    assert (
        "Usage: `/airflow trigger [&lt;deployment&gt;] &lt;dag_id&gt; [&lt;logical_date&gt;] "
        "[&lt;conf-json&gt;]`" in ack["text"]
    )
    assert slack_fresh.calls_to("chat.postMessage") == []


def test_misspelt_verb_gets_did_you_mean(bot: BotProcess, slack_fresh: SlackStandin) -> None:
    _, body = bot.slash("trigerr af3 etl_daily")
    assert "Did you mean `trigger`?" in json.loads(body)["text"]


# -- signatures --------------------------------------------------------------------------------


def test_bad_or_stale_signature_gets_401_and_changes_nothing(
    bot: BotProcess, slack_fresh: SlackStandin, airflow3: AirflowServer
) -> None:
    probe = AirflowProbe(airflow3)
    probe.set_paused("pause_target_b", False)
    forged = bot.slash("pause af3 pause_target_b", secret="not-the-secret")
    stale = bot.slash("pause af3 pause_target_b", timestamp=int(time.time()) - 6 * 60)
    assert forged[0] == 401
    assert stale[0] == 401
    time.sleep(1)  # give a wrongly accepted request the time to act
    assert probe.is_paused("pause_target_b") is False
    # Nothing was said about it (the session's follower may still report on earlier tests).
    said = [c for c in slack_fresh.calls_to("chat.postMessage") if "pause_target_b" in str(c)]
    assert said == []


@pytest.mark.parametrize("secret", ["", "not-the-secret"])
def test_an_http_endpoint_with_socket_mode_configured_still_checks_signatures(
    tmp_path: Path,
    slack_fresh: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    secret: str,
) -> None:
    # The Procfile's web process started with SLACK_APP_TOKEN set and no signing secret:
    # requests signed with an empty or a guessed secret are still refused.
    env = {**E2E_ENV, "SLACK_APP_TOKEN": slack_fresh.app_token, "SLACK_SIGNING_SECRET": ""}
    web = BotProcess(workdir=tmp_path, config=e2e_config(airflow2, airflow3, extra=OPERATOR_GRANT),
                     slack_api_url=slack_fresh.api_url, env=env)  # fmt: skip
    with web:
        status, _ = web.slash("pause af3 pause_target_b", secret=secret)
    assert status == 401
    assert slack_fresh.calls_to("chat.postMessage") == []


# -- the commands against both real Airflows ---------------------------------------------------


def test_list_shows_state_schedule_and_links_in_the_thread(
    bot: BotProcess, slack_fresh: SlackStandin, deployment: tuple[str, AirflowProbe]
) -> None:
    name, probe = deployment
    conv_text = run(bot, slack_fresh, f"list {name} etl_")
    assert "etl_daily" in conv_text
    assert "etl_hourly" in conv_text
    assert "reporting_weekly" not in conv_text
    assert "`@daily`" in conv_text
    assert "paused" in conv_text
    assert f"{probe.server.url}/dags/etl_daily" in conv_text  # the link into the Airflow UI
    parent = slack_fresh.messages["C0GENERAL"][0]
    assert parent["text"].startswith(f"<@{USER}> ran `/airflow list {name} etl_`")


def test_parent_message_is_updated_with_the_outcome(
    bot: BotProcess, slack_fresh: SlackStandin
) -> None:
    run(bot, slack_fresh, "list af3 etl_")
    parent = slack_fresh.messages["C0GENERAL"][0]
    assert ":white_check_mark:" in parent["text"]
    assert "listed 2 DAGs" in parent["text"]
    replies = slack_fresh.thread("C0GENERAL", parent["ts"])
    assert len(replies) == 1


@pytest.mark.parametrize(("channel", "default"), [("C0AF2", "af2"), ("C0AF3", "af3")])
def test_channel_default_deployment_applies(
    bot: BotProcess,
    slack_fresh: SlackStandin,
    airflow2: AirflowServer,
    airflow3: AirflowServer,
    channel: str,
    default: str,
) -> None:
    # Both Airflows have the same DAGs: only the deployment named and the links into its UI
    # tell which one answered.
    urls = {"af2": f"{airflow2.url}/", "af3": f"{airflow3.url}/"}
    said = run(bot, slack_fresh, "list etl_", channel=channel)
    assert f"*DAGs on `{default}`*" in said
    assert f"{urls[default]}dags/etl_daily" in said
    assert [name for name, url in urls.items() if url in said] == [default]
    parent = slack_fresh.messages[channel][0]
    assert parent["text"].startswith(f"<@{USER}> ran `/airflow list etl_` on `{default}`")


def test_pause_and_unpause_really_change_airflow(
    bot: BotProcess, slack_fresh: SlackStandin, deployment: tuple[str, AirflowProbe]
) -> None:
    name, probe = deployment
    probe.set_paused("pause_target_a", False)
    said = run(bot, slack_fresh, f"pause {name} pause_target_a")
    assert "Paused" in said
    assert probe.is_paused("pause_target_a") is True
    said = run(bot, slack_fresh, f"pause {name} pause_target_a")
    assert "already paused" in said
    said = run(bot, slack_fresh, f"unpause {name} pause_target_a")
    assert "Unpaused" in said
    assert probe.is_paused("pause_target_a") is False


def test_trigger_creates_the_run_with_the_logical_date_and_conf_asked(
    bot: BotProcess, slack_fresh: SlackStandin, deployment: tuple[str, AirflowProbe]
) -> None:
    name, probe = deployment
    probe.delete_runs("manual_only")
    said = run(
        bot, slack_fresh, f'trigger {name} manual_only 2022-11-16T11:34:00Z {{"table": "orders"}}'
    )
    runs = probe.runs("manual_only")
    assert len(runs) == 1
    created = runs[0]
    assert datetime.fromisoformat(created["logical_date"]) == datetime.fromisoformat(
        "2022-11-16T11:34:00+00:00"
    )
    assert created["conf"] == {"table": "orders"}
    assert created["note"] == f"Triggered from Slack by user {USER} in channel C0GENERAL"
    assert created["dag_run_id"] in said
    assert "is paused" in said  # test DAGs start paused: the user is told why it will wait

    # the same logical date again: Airflow refuses, and the user is told so plainly
    again = run(bot, slack_fresh, f"trigger {name} manual_only 2022-11-16T11:34:00Z")
    assert "already exists" in again
    assert len(probe.runs("manual_only")) == 1
    parents = [m for m in slack_fresh.messages["C0GENERAL"] if "thread_ts" not in m]
    assert ":x: failed: already exists" in parents[-1]["text"]


def test_status_lists_recent_runs(
    bot: BotProcess, slack_fresh: SlackStandin, deployment: tuple[str, AirflowProbe]
) -> None:
    name, probe = deployment
    probe.delete_runs("manual_only")
    run(bot, slack_fresh, f"trigger {name} manual_only 2023-01-02")
    said = run(bot, slack_fresh, f"status {name} manual_only")
    assert "Recent runs of" in said
    assert "2023-01-02 00:00 UTC" in said
    run_id = probe.runs("manual_only")[0]["dag_run_id"]
    one = run(bot, slack_fresh, f"status {name} manual_only {run_id}")
    assert "Logical date: 2023-01-02 00:00 UTC" in one


def test_unknown_dag_gets_did_you_mean(
    bot: BotProcess, slack_fresh: SlackStandin, deployment: tuple[str, AirflowProbe]
) -> None:
    name, _ = deployment
    said = run(bot, slack_fresh, f"trigger {name} etl_daly")
    assert "DAG `etl_daly` not found" in said
    assert "Did you mean `etl_daily`" in said


# -- Slack refusing, Airflow failing -----------------------------------------------------------


def test_where_the_bot_cannot_post_it_answers_via_response_url_with_an_invite_hint(
    bot: BotProcess, slack_fresh: SlackStandin
) -> None:
    slack_fresh.member_channels = {"C0GENERAL"}
    try:
        url = slack_fresh.new_response_url()
        status, _ = bot.slash("list af3 etl_", channel_id="G0PRIVATE", response_url=url)
        assert status == 200
        answer = slack_fresh.wait_for("response_url", timeout=30)[0].params
    finally:
        slack_fresh.member_channels = None
    text = visible_text(answer)
    assert "etl_daily" in text
    assert "/invite" in text
    assert answer.get("response_type") == "ephemeral"


def test_slack_rate_limiting_is_waited_out(bot: BotProcess, slack_fresh: SlackStandin) -> None:
    slack_fresh.rate_limit_next("chat.postMessage", retry_after=1)
    assert "etl_daily" in run(bot, slack_fresh, "list af3 etl_")


def test_airflow_down_is_said_in_the_thread_and_the_bot_keeps_serving(
    bot: BotProcess, slack_fresh: SlackStandin
) -> None:
    started = time.monotonic()
    said = run(bot, slack_fresh, "trigger down etl_daily")
    assert time.monotonic() - started < DOWN_TIMEOUT + 10
    assert "Airflow on `down` is not answering" in said
    assert "connection refused" in said
    assert "down-token-secret" not in bot.logs()
    assert "etl_daily" in run(bot, slack_fresh, "list af3 etl_")


def test_slow_airflow_fifty_commands_at_once_all_acked_and_all_answered(
    airflow3: AirflowServer,
    airflow2: AirflowServer,
    slack_fresh: SlackStandin,
    tmp_path: Path,
) -> None:
    with DelayProxy(airflow3.url, delay=5.0) as proxy:
        config = e2e_config(airflow2, airflow3, extra=OPERATOR_GRANT).replace(
            airflow3.url, proxy.url
        )
        with BotProcess(
            workdir=tmp_path, config=config, slack_api_url=slack_fresh.api_url, env=E2E_ENV
        ) as slow_bot:

            def send(i: int) -> tuple[int, str, float]:
                started = time.monotonic()
                status, body = slow_bot.slash("status af3 etl_daily", channel_id=f"C0LOAD{i:02d}")
                return status, body, time.monotonic() - started

            with ThreadPoolExecutor(max_workers=50) as pool:
                acks = list(pool.map(send, range(50)))
            assert [a[0] for a in acks] == [200] * 50
            assert all(a[1] == "" for a in acks)
            assert max(a[2] for a in acks) < 3.0  # Slack's deadline, with the proxy at 5 s
            for i in range(50):
                conv = finished_conversation(
                    slack_fresh,
                    f"C0LOAD{i:02d}",
                    header=f"<@{USER}> ran `/airflow status af3 etl_daily`",
                    timeout=90,
                )
                assert "etl_daily" in conv.reply_text
