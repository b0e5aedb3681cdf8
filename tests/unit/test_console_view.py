"""How the console shows Slack messages: markup, blocks, threads, buttons and modals."""

from __future__ import annotations

from typing import Any

from bot.tools.console_view import Transcript, Where, mrkdwn
from bot.tools.localslack import Call


def call(method: str, params: dict[str, Any], result: dict[str, Any] | None) -> Call:
    return Call(method, params, None, 0.0, result)


def mrk(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def button(text: str, **fields: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, **fields}


def posted(channel: str, message: dict[str, Any]) -> Call:
    return call(
        "chat.postMessage",
        {"channel": channel},
        {"ok": True, "channel": channel, "ts": message["ts"], "message": message},
    )


def test_markup_becomes_plain_text() -> None:
    text = (
        "<@U012ABC> ran it in <#C0OPS> for <!subteam^S1|@data> <!here>: "
        "<https://af/dags/etl|etl_daily> &lt;ok&gt; :white_check_mark: at 11:34:00"
    )
    assert mrkdwn(text) == "@U012ABC ran it in #ops for @data @here: etl_daily <ok> ✅ at 11:34:00"


def test_a_terminal_gets_styles_and_hyperlinks_but_not_inside_code() -> None:
    shown = mrkdwn("*<https://af/x|etl>* is _paused_; globs like `etl_*` stay", terminal=True)
    assert shown == (
        "\x1b[1m\x1b]8;;https://af/x\x1b\\etl\x1b]8;;\x1b\\\x1b[22m is \x1b[3mpaused\x1b[23m; "
        "globs like `etl_*` stay"
    )


def test_a_message_with_blocks_numbers_its_buttons() -> None:
    view = Transcript(me=lambda: "U1")
    message = {
        "ts": "100.000001",
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Runs"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*etl*"},
                "fields": [{"type": "mrkdwn", "text": "state"}, {"type": "mrkdwn", "text": "ok"}],
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Refresh"},
                    "action_id": "refresh",
                    "value": "v1",
                },
            },
            {"type": "divider"},
            {"type": "context", "elements": [mrk("a"), mrk("b")]},
            {
                "type": "actions",
                "block_id": "acts",
                "elements": [
                    button("Go", action_id="go", value="g", style="primary"),
                    button("Stop", action_id="stop", value="s", style="danger"),
                    button("Open", action_id="open", url="https://af/x"),
                ],
            },
        ],
    }
    lines = view.render(posted("C0GENERAL", message))
    assert lines == [
        "#general airflow: == Runs ==",
        "  *etl*",
        "  state",
        "  ok",
        "  [1] Refresh",
        "  ────────────────────────",
        "  a · b",
        "  [2] Go*  [3] Stop!  [4] Open ↗ https://af/x",
    ]
    where = Where(channel="C0GENERAL", message_ts="100.000001")
    assert view.buttons[1].action_id == "refresh" and view.buttons[1].where == where
    assert (view.buttons[3].action_id, view.buttons[3].block_id) == ("stop", "acts")
    assert view.buttons[4].url == "https://af/x" and view.buttons[4].value is None


def test_replies_edits_and_private_answers() -> None:
    view = Transcript(me=lambda: "U1")
    reply = {"ts": "100.000002", "thread_ts": "100.000001", "text": "line one\nline two"}
    assert view.render(posted("C0GENERAL", reply)) == ["  ↳ airflow: line one", "    line two"]
    edited = call(
        "chat.update",
        {"channel": "C0GENERAL"},
        {"ok": True, "channel": "C0GENERAL", "message": {"ts": "100.000001", "text": "done :x:"}},
    )
    assert view.render(edited) == ["#general airflow (edited): done ❌"]
    private = call(
        "chat.postEphemeral",
        {"channel": "C0GENERAL", "user": "U2", "text": "only for two"},
        {"ok": True, "message_ts": "100.000003"},
    )
    assert view.render(private) == ["#general airflow (only U2 sees this): only for two"]


def test_what_slack_would_refuse_is_shown() -> None:
    view = Transcript(me=lambda: "U1")
    refused = call(
        "chat.postMessage",
        {"channel": "C0GENERAL"},
        {"ok": False, "error": "invalid_blocks", "errors": ["must be less than 3001 characters"]},
    )
    assert view.render(refused) == [
        "#general (Slack refused the bot's chat.postMessage: invalid_blocks: "
        "must be less than 3001 characters)"
    ]
    assert view.render(call("auth.test", {}, {"ok": True})) == []


def test_a_modal_is_shown_and_remembered_for_the_person_typing() -> None:
    view = Transcript(me=lambda: "U7")
    modal = {
        "id": "V1",
        "title": {"type": "plain_text", "text": "Trigger etl"},
        "submit": {"type": "plain_text", "text": "Trigger"},
        "blocks": [
            {
                "type": "input",
                "block_id": "date",
                "label": {"type": "plain_text", "text": "Logical date"},
                "optional": True,
                "element": {"type": "plain_text_input", "initial_value": "2024-01-31"},
            }
        ],
    }
    lines = view.render(call("views.open", {}, {"ok": True, "view": modal}))
    assert lines == [
        "┌ Trigger etl",
        "│ Logical date (optional): [2024-01-31]",
        "└ Trigger / Cancel",
    ]
    assert view.modals[0].user == "U7" and view.modals[0].view["id"] == "V1"


# Airflow's words with what a terminal would obey: colours, a cursor move, a window title, a
# hyperlink of its own, a carriage return over the line, a bell, a C1 control sequence.
HOSTILE_TERMINAL = (
    "\x1b[31mred\x1b[0m \x1b[2J\x1b]0;pwned\x07 \x1b]8;;https://evil\x1b\\x\x1b]8;;\x1b\\"
    " ok\rfake \x9b1m\x00\x7f"
)


def test_control_characters_from_the_bot_never_reach_the_terminal() -> None:
    for terminal in (False, True):
        shown = mrkdwn(f"*{HOSTILE_TERMINAL}*\n\ttabbed", terminal=terminal)
        assert "\x1b]0;" not in shown and "\x1b[2J" not in shown and "\x1b[31m" not in shown
        assert "\x1b]8;;https://evil" not in shown
        assert not any(c in shown for c in "\r\x07\x00\x7f\x9b")
        assert "\n\ttabbed" in shown  # newlines and tabs are kept
    plain_text = mrkdwn(HOSTILE_TERMINAL)
    assert plain_text == "[31mred[0m [2J]0;pwned ]8;;https://evil\\x]8;;\\ okfake 1m"
    # Our own styles still reach a terminal.
    assert mrkdwn("*bold*", terminal=True) == "\x1b[1mbold\x1b[22m"


def test_buttons_modals_and_refusals_show_no_control_characters() -> None:
    view = Transcript(me=lambda: "U1", terminal=True)
    message = {
        "ts": "100.000001",
        "text": "x",
        "blocks": [
            {"type": "section", "text": mrk(f"note: {HOSTILE_TERMINAL}")},
            {"type": "context", "elements": [mrk(HOSTILE_TERMINAL)]},
            {
                "type": "actions",
                "elements": [
                    button(f"Go\x1b[5m{HOSTILE_TERMINAL}", action_id="go", value="g"),
                    button("Open", action_id="open", url="https://af/x\x1b]0;t\x07"),
                ],
            },
            {"type": "image", "alt_text": HOSTILE_TERMINAL, "image_url": "https://af/i"},
        ],
    }
    lines = view.render(posted("C0GENERAL", message))
    modal = view.render(
        call(
            "views.open",
            {},
            {
                "ok": True,
                "view": {
                    "id": "V1",
                    "title": {"type": "plain_text", "text": f"T{HOSTILE_TERMINAL}"},
                    "blocks": [
                        {
                            "type": "input",
                            "label": {"type": "plain_text", "text": HOSTILE_TERMINAL},
                            "element": {
                                "type": "plain_text_input",
                                "initial_value": HOSTILE_TERMINAL,
                            },
                        }
                    ],
                },
            },
        )
    )
    refused = view.render(
        call("chat.postMessage", {"channel": "C0GENERAL"}, {"ok": False, "error": "x\x1b[2Jy"})
    )
    shown = "\n".join(lines + modal + refused)
    for sequence in ("\x1b[31m", "\x1b[2J", "\x1b]0;", "\x1b[5m", "\x07", "\r", "\x9b"):
        assert sequence not in shown
    assert "\x1b]8;;https://evil" not in shown
    assert "[1] Go" in shown and "red" in shown
