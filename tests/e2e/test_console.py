"""``python -m bot console``: lines in, the bot's replies out, against real Airflows.

The console is driven through its input and output streams (and once as ``python -m bot
console`` with piped input), talking to the real Bolt app over signed HTTP; nothing is mocked.
Buttons and forms are exercised with listeners added to the running app, so these tests do not
depend on which buttons the commands offer.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.tools.console import Console
from bot.tools.localbot import LocalBot
from testkit.airflow_harness import ADMIN_PASSWORD, AirflowServer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
deployments:
  af2:
    url: {af2}
    username: admin
    password: ${{AF_PASSWORD}}
  af3:
    url: {af3}
    username: admin
    password: ${{AF_PASSWORD}}
grants:
  - role: operator
    users: [U0CONSOLE]
  - role: viewer
    users: [U0VIEWER]
"""


def console_env(tmp: Path, af2: AirflowServer, af3: AirflowServer) -> dict[str, str]:
    config = tmp / "chatops.yml"
    config.write_text(CONFIG.format(af2=af2.url, af3=af3.url))
    return {
        "CHATOPS_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp / 'chatops.db'}",
        "AF_PASSWORD": ADMIN_PASSWORD,
        # What a developer's .env may hold: the console must ignore Slack's own settings.
        "SLACK_BOT_TOKEN": "xoxb-a-real-token-the-console-must-not-use",
        "SLACK_APP_TOKEN": "xapp-a-real-app-token",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }


@pytest.fixture(scope="module")
def local(
    airflow2: AirflowServer, airflow3: AirflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalBot]:
    bot = LocalBot.start(console_env(tmp_path_factory.mktemp("console"), airflow2, airflow3))
    yield bot
    bot.close()


def chat(
    local: LocalBot,
    *lines: str,
    user: str = "U0CONSOLE",
    first: Callable[[], object] | None = None,
) -> str:
    """Type ``lines`` into a new console; return everything it printed.

    ``first`` runs once the console is there, before it reads anything: what it makes the bot
    post is shown (and its buttons numbered from 1) ahead of the first line.
    """
    out = io.StringIO()
    typed = io.StringIO("".join(f"{line}\n" for line in lines))
    console = Console(local, stdin=typed, stdout=out, user=user)
    if first is not None:
        first()
    assert console.run() == 0
    return out.getvalue()


@pytest.mark.parametrize("dep", ["af2", "af3"])
def test_list_shows_the_parent_the_threaded_reply_and_the_outcome(
    local: LocalBot, dep: str
) -> None:
    out = chat(local, f"/airflow list {dep} etl")
    assert f"U0CONSOLE in #console> /airflow list {dep} etl" in out
    assert f"#console airflow: @U0CONSOLE ran `/airflow list {dep} etl`" in out
    reply = out.split("↳ airflow:", 1)[1]
    assert "etl_daily" in reply and "etl_hourly" in reply
    assert "reporting_weekly" not in reply
    assert f"airflow (edited): @U0CONSOLE ran `/airflow list {dep} etl`" in out
    assert "✅" in out


def test_the_slash_may_be_left_out_and_private_answers_say_so(local: LocalBot) -> None:
    out = chat(local, "whoami", "help")
    assert "airflow (only you see this): *You are @U0CONSOLE*" in out
    assert "operator" in out
    assert "/airflow trigger" in out  # help's text


def test_usage_errors_come_back_in_the_ack_only_to_the_asker(local: LocalBot) -> None:
    out = chat(local, "/airflow trigger af3 etl_daily 2022-11-16T11:34:00")
    assert "(only you see this)" in out
    assert "no time zone" in out
    assert "ran `/airflow trigger" not in out  # nothing was posted in the channel


def test_as_acts_as_another_user_for_one_line_or_from_then_on(local: LocalBot) -> None:
    out = chat(
        local,
        "/airflow pause af3 pause_target_a --as U0VIEWER",
        "--as U0NOBODY",
        "/airflow list af3",
        "--in C0OPS",
    )
    assert "airflow (only U0VIEWER sees this): ⛔ None of your grants allows `pause`." in out
    assert "You are U0NOBODY in #console (C0CONSOLE)." in out
    assert "U0NOBODY in #console> /airflow list af3" in out
    assert "only you see this): ⛔ You have no permissions in this bot" in out
    assert "`U0NOBODY`" in out
    assert "You are U0NOBODY in #ops (C0OPS)." in out


def test_status_of_a_dag_on_airflow_2(local: LocalBot) -> None:
    out = chat(local, "/airflow status af2 etl_daily")
    assert "ran `/airflow status af2 etl_daily`" in out
    assert "↳ airflow:" in out
    assert "(edited)" in out


def test_mistakes_in_console_input_get_a_clear_answer(local: LocalBot) -> None:
    out = chat(local, "/deploy prod", "--as alice", "--in", "99", "?")
    assert "This bot has only the /airflow command; Slack would not send it /deploy." in out
    assert "--as needs a Slack user ID, like --as U012ABCDEF." in out
    assert "--in needs a Slack channel ID, like --in C0123ABCD." in out
    assert "There is no button [99]" in out
    assert "click button [3]" in out  # the help
    assert "Traceback" not in out


# -- buttons and forms, through listeners added to the running app ----------------------------


@pytest.fixture(scope="module")
def clicks(local: LocalBot) -> list[dict[str, Any]]:
    """Listeners for a test button and a test form; returns the payloads they received."""
    seen: list[dict[str, Any]] = []
    app = local.bot.app

    @app.action("console_test_press")
    def press(ack: Any, body: dict[str, Any], client: Any, respond: Any) -> None:
        ack()
        seen.append(body)
        value = body["actions"][0].get("value")
        if value == "replace":
            respond(replace_original=True, text=f"Done by <@{body['user']['id']}>")
            return
        client.chat_postMessage(
            channel=body["channel"]["id"],
            thread_ts=body["container"]["message_ts"],
            text=f"pressed by <@{body['user']['id']}>: {value}",
        )

    @app.action("console_test_form")
    def open_form(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "console_test_submit",
                "private_metadata": body["channel"]["id"],
                "title": {"type": "plain_text", "text": "Trigger a run"},
                "submit": {"type": "plain_text", "text": "Trigger"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "date",
                        "label": {"type": "plain_text", "text": "Logical date"},
                        "element": {"type": "plain_text_input", "action_id": "value"},
                    },
                    {
                        "type": "input",
                        "block_id": "mode",
                        "label": {"type": "plain_text", "text": "Mode"},
                        "element": {
                            "type": "static_select",
                            "action_id": "pick",
                            "options": [
                                {"text": {"type": "plain_text", "text": t}, "value": t}
                                for t in ("full", "incremental")
                            ],
                        },
                    },
                ],
            },
        )

    @app.view("console_test_submit")
    def submitted(ack: Any, body: dict[str, Any], client: Any) -> None:
        values = body["view"]["state"]["values"]
        date = values["date"]["value"]["value"]
        if not date.startswith("20"):
            ack(response_action="errors", errors={"date": "Give a date like 2024-01-31"})
            return
        ack()
        seen.append(body)
        mode = values["mode"]["pick"]["selected_option"]["value"]
        client.chat_postMessage(
            channel=body["view"]["private_metadata"], text=f"form: {date} {mode}"
        )

    return seen


def post_buttons(local: LocalBot, *buttons: dict[str, Any], channel: str = "C0CONSOLE") -> None:
    """The bot posts a message with these buttons, as a command's reply would."""
    local.bot.app.client.chat_postMessage(
        channel=channel,
        text="buttons",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Pick one*"}},
            {"type": "actions", "block_id": "test_actions", "elements": list(buttons)},
        ],
    )


def button(text: str, action_id: str, value: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        **more,
    }


def numbered(out: str, label: str) -> str:
    """The number the console gave the button ``label`` (the last one shown)."""
    marker = f"] {label}"
    before = out[: out.rindex(marker)]
    return before[before.rindex("[") + 1 :]


def test_a_button_is_clicked_by_number_with_a_signed_block_actions_payload(
    local: LocalBot, clicks: list[dict[str, Any]]
) -> None:
    def post() -> None:
        post_buttons(local, button("Go", "console_test_press", "v-go"))

    out = chat(local, "1", first=post)
    assert "#console airflow: *Pick one*\n  [1] Go\n" in out
    assert "(you clicked [1] Go)" in out
    assert "↳ airflow: pressed by @U0CONSOLE: v-go" in out
    body = clicks[-1]
    assert body["type"] == "block_actions"
    assert body["user"]["id"] == "U0CONSOLE"
    assert body["container"]["channel_id"] == "C0CONSOLE"
    assert body["message"]["ts"] == body["container"]["message_ts"]
    assert body["actions"][0]["block_id"] == "test_actions"
    assert body["response_url"].startswith(local.slack.base_url)


def test_the_clicker_is_whoever_is_typing(local: LocalBot, clicks: list[dict[str, Any]]) -> None:
    def post() -> None:
        post_buttons(local, button("Go", "console_test_press", "v-as"))

    out = chat(local, "1 --as U0VIEWER", first=post)
    assert "pressed by @U0VIEWER: v-as" in out
    assert clicks[-1]["user"]["id"] == "U0VIEWER"


def test_a_confirm_dialog_is_asked_first_and_no_sends_nothing(
    local: LocalBot, clicks: list[dict[str, Any]]
) -> None:
    confirm = {
        "title": {"type": "plain_text", "text": "Pause etl?"},
        "text": {"type": "mrkdwn", "text": "Runs stop being scheduled."},
        "confirm": {"type": "plain_text", "text": "Pause"},
        "deny": {"type": "plain_text", "text": "Keep running"},
    }

    def post() -> None:
        post_buttons(
            local,
            button("Pause", "console_test_press", "v-confirm", style="danger", confirm=confirm),
        )

    before = len(clicks)
    out = chat(local, "1", "n", "1", "y", first=post)
    assert "[1] Pause!" in out  # "!" marks a dangerous button
    assert "┌ Pause etl?\n│ Runs stop being scheduled.\n└ y: Pause / n: Keep running" in out
    assert "Not confirmed: nothing was sent." in out
    assert len(clicks) == before + 1
    assert out.count("pressed by @U0CONSOLE: v-confirm") == 1


def test_a_click_answered_through_response_url_replaces_the_message(
    local: LocalBot, clicks: list[dict[str, Any]]
) -> None:
    def post() -> None:
        post_buttons(local, button("Finish", "console_test_press", "replace"))

    out = chat(local, "1", first=post)
    assert "airflow (replaced the message): Done by @U0CONSOLE" in out


def test_a_button_nothing_handles_says_so(local: LocalBot) -> None:
    def post() -> None:
        post_buttons(local, button("Nobody", "console_test_unhandled", "x"))

    out = chat(local, "1", first=post)
    assert "(nothing in the bot handles button `console_test_unhandled`: HTTP 404)" in out


def test_a_form_is_filled_in_field_by_field_and_errors_are_asked_again(
    local: LocalBot, clicks: list[dict[str, Any]]
) -> None:
    def post() -> None:
        post_buttons(local, button("Trigger…", "console_test_form", "f"))

    out = chat(local, "1", "yesterday", "2", "2024-01-31", "", first=post)
    assert "┌ Trigger a run" in out
    assert "│ Mode: one of full | incremental" in out
    assert "└ Trigger / Cancel" in out
    assert "⚠ Logical date: Give a date like 2024-01-31" in out
    assert "#console airflow: form: 2024-01-31 incremental" in out
    submitted = clicks[-1]
    assert submitted["type"] == "view_submission"
    assert submitted["view"]["callback_id"] == "console_test_submit"


def test_a_form_can_be_cancelled(local: LocalBot, clicks: list[dict[str, Any]]) -> None:
    def post() -> None:
        post_buttons(local, button("Trigger…", "console_test_form", "f"))

    before = len(clicks)
    out = chat(local, "1", ".", first=post)
    assert "Form closed: nothing was sent." in out
    assert len(clicks) == before  # no submission reached the bot


# -- as a command -------------------------------------------------------------------------------


def run_module(
    args: list[str], env: dict[str, str], stdin: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_python_m_bot_console_with_piped_input(
    airflow2: AirflowServer, airflow3: AirflowServer, tmp_path: Path
) -> None:
    env = console_env(tmp_path, airflow2, airflow3)
    env["PYTHONPATH"] = str(ROOT)
    result = run_module(
        ["console", "--as", "U0CONSOLE"], env, "/airflow list af3 pause_target\n", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "nothing is sent to Slack" in result.stdout
    assert "Deployments: af2 (" in result.stdout
    assert "pause_target_a" in result.stdout and "pause_target_b" in result.stdout
    assert "The bot's log: " in result.stdout
    assert result.stderr == ""
    assert ADMIN_PASSWORD not in result.stdout


def test_python_m_bot_console_with_a_broken_config_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "chatops.yml").write_text(
        "deployments:\n  prod:\n    url: ftp://x\n    token: literal-secret-123\n"
    )
    result = run_module(
        ["console"], {"CHATOPS_CONFIG": str(tmp_path / "chatops.yml")}, "", tmp_path
    )
    assert result.returncode == 2
    assert "deployments.prod.url" in result.stderr
    assert "deployments.prod.token: put the secret in the environment" in result.stderr
    assert "literal-secret-123" not in result.stderr
    assert "Traceback" not in result.stderr


def test_in_a_terminal_it_styles_replies_and_ctrl_c_only_drops_the_line(
    airflow2: AirflowServer, airflow3: AirflowServer, tmp_path: Path
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TERM": "xterm"}
    env.update(console_env(tmp_path, airflow2, airflow3), PYTHONPATH=str(ROOT))
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        # The pseudo-terminal becomes the console's controlling terminal, so Ctrl-C is SIGINT.
        preexec_fn=_own_terminal,
    )
    os.close(terminal)
    screen = _Screen(controller)
    try:
        # Without its trailing space: readline may redraw the prompt in pieces.
        prompt = "U0CONSOLE in #console>"
        screen.wait_for(prompt)
        screen.type("/airflow list af3 etl\r")
        shown = screen.wait_for("listed 2 DAGs")
        assert "\x1b[1m" in shown  # *bold* became bold
        assert "\x1b]8;;" + airflow3.url in shown  # links can be opened from the terminal
        screen.wait_for(prompt, count=2)
        # The prompt can be drawn again (after the parent's edit) a moment before readline
        # reads the terminal: type until readline echoes what is typed, then go on.
        screen.type("half")
        screen.wait_for("half")
        screen.type(" a line\x03")  # Ctrl-C: the line is dropped, a new prompt comes
        screen.wait_for(prompt, count=3)
        screen.type("\x04")  # Ctrl-D at the empty prompt: the console ends
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


def _own_terminal() -> None:
    """In the console's process, before it starts: the pseudo-terminal as its controlling
    terminal, and SIGINT handled as in a shell's foreground job. A test run started in the
    background (CI) ignores SIGINT, the child would inherit that, and Python then never turns
    Ctrl-C into KeyboardInterrupt."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Screen:
    """What a terminal shows of a process running under a pseudo-terminal."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.text = ""

    def type(self, keys: str) -> None:
        os.write(self._fd, keys.encode())

    def wait_for(self, text: str, timeout: float = 30, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while self.text.count(text) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} never shown:\n{self.text}")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready:
                try:
                    self.text += os.read(self._fd, 65536).decode(errors="replace")
                except OSError:  # the process has closed the terminal
                    break
        if self.text.count(text) < count:
            raise AssertionError(f"{text!r} not shown {count} times:\n{self.text}")
        return self.text
