"""The config's ``airflow_users:``: which Airflow user each Slack user is, for the
human-in-the-loop tasks that name assigned users."""

from __future__ import annotations

from tests.unit.test_config import MINIMAL, parse, problems


def test_slack_users_map_to_airflow_users() -> None:
    config = parse(MINIMAL + "airflow_users:\n  U012ABCDEF: alice\n  U0BOB: ' bob '\n")
    assert config.airflow_users == {"U012ABCDEF": "alice", "U0BOB": "bob"}


def test_without_the_section_nobody_is_mapped() -> None:
    assert parse(MINIMAL).airflow_users == {}


def test_names_and_empty_users_are_refused() -> None:
    found = problems(MINIMAL + "airflow_users:\n  alice: alice\n  U0BOB: ''\n  U0CAT: [x]\n")
    assert found == [
        "airflow_users.alice: 'alice' is not a Slack user ID like U012ABCDEF; use the Slack "
        "user ID (U...), not a display name",
        "airflow_users.U0BOB: is empty; write the Airflow user's id or name",
        "airflow_users.U0CAT: must be text, got a list",
    ]
    assert problems(MINIMAL + "airflow_users: [alice]\n") == [
        "airflow_users: must be a mapping of Slack user IDs to Airflow users, like "
        "{U012ABCDEF: alice}, got a list"
    ]
