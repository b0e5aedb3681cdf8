"""How a task waiting for a person is shown: Airflow's Markdown as Slack mrkdwn, everything
from Airflow escaped, a button per option, and a link instead of buttons for a form."""

from __future__ import annotations

from bot.airflow.hitl import HitlUser, hitl_from_json
from bot.core.hitl import HitlButtons, HitlLinks, mrkdwn, request_post

BUTTONS = HitlButtons("respond", "respond_form")
LINKS = HitlLinks("https://af/dags/d", "https://af/dags/d/runs/r")


def test_markdown_becomes_mrkdwn_and_can_make_no_link_or_ping() -> None:
    text = mrkdwn("# Title\n- **bold** <@U1> <!here>\n[site](https://evil.example)")
    assert text.splitlines() == [
        "*Title*",
        "• *bold* &lt;@U1&gt; &lt;!here&gt;",
        "site (https://evil.example)",
    ]


def test_a_request_is_read_from_airflow_and_posted_with_a_button_per_option() -> None:
    req = hitl_from_json({
        "task_instance": {"dag_id": "d", "dag_run_id": "r", "task_id": "t", "map_index": 0},
        "subject": "Go <!channel>?", "options": ["Yes", "No"], "defaults": ["No"],
        "assigned_users": [{"id": "7", "name": "alice"}], "created_at": "2025-01-01T00:00:00Z",
    })  # fmt: skip
    assert req.key == "r/t/0" and req.assigned_users == (HitlUser("7", "alice"),)
    post = request_post("prod", req, LINKS, buttons=BUTTONS)
    blob = str(post.blocks)
    assert "Go &lt;!channel&gt;?" in blob and "<!channel>" not in blob
    assert [i.args["conf"]["chosen_options"] for i in post.intents] == [["Yes"], ["No"]]
    assert "Airflow takes `No`" in blob and "`alice`" in blob


def test_several_options_or_parameters_open_a_form() -> None:
    req = hitl_from_json({"task_instance": {"dag_id": "d", "dag_run_id": "r", "task_id": "t"},
                          "subject": "Pick", "options": ["a", "b"], "multiple": True})  # fmt: skip
    post = request_post("prod", req, LINKS, buttons=BUTTONS)
    [intent] = post.intents
    assert intent.verb == "respond_form" and intent.args["multiple"] is True
