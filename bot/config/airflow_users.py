"""The `airflow_users:` section: which Airflow user each Slack user is, for human-in-the-loop
tasks that name their assigned users (only those may answer them, from Slack as in Airflow).

Keys are Slack user IDs; values the Airflow user's id or name as Airflow lists it in a task's
``assigned_users`` (its username with Airflow's own auth manager).
"""

from __future__ import annotations

from bot.config.checker import Checker, key_path
from bot.config.slack_ids import USER, slack_id

__all__ = ["check_airflow_users"]

_EXAMPLE = "a mapping of Slack user IDs to Airflow users, like {U012ABCDEF: alice}"


def check_airflow_users(c: Checker, raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    fields = c.mapping("airflow_users", raw, _EXAMPLE)
    found: dict[str, str] = {}
    for key, value in (fields or {}).items():
        path = key_path("airflow_users", key)
        user = slack_id(c, path, key, USER)
        name = c.string(path, value)
        if name is not None and not name.strip():
            c.problem(path, "is empty; write the Airflow user's id or name")
        elif user and name:
            found[user] = name.strip()
    return found
