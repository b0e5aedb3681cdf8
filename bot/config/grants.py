"""The `grants:` section: who (users, user groups) gets which role, and where it applies.

A grant may be narrowed to some channels, deployments and DAG id patterns; a key left out
narrows nothing, and an empty list there, which would allow nothing, is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.config.checker import Checker, did_you_mean, key_path, show
from bot.config.deployments import deployment_ref
from bot.config.model import Grant
from bot.config.slack_ids import CHANNEL, USER, USERGROUP, IdKind, slack_id

__all__ = ["check_grants"]

_GRANT_KEYS = ("role", "users", "usergroups", "channels", "deployments", "dags")
_GRANT_LIST_EXAMPLES = {
    "users": "[U012ABCDEF]",
    "usergroups": "[S0123ABCD]",
    "channels": "[C0123ABCD]",
    "deployments": "[prod]",
    "dags": '["etl_*"]',
}


def check_grants(
    c: Checker, raw: object, role_names: set[str], deployment_names: set[str]
) -> tuple[Grant, ...]:
    """The grants in the file's order; their problems are recorded in `c`."""
    if raw is None:
        return ()
    items = c.sequence("grants", raw, "[{role: operator, users: [U012ABCDEF]}]")
    grants = []
    for index, item in enumerate(items or []):
        grant = _grant(c, f"grants[{index}]", item, role_names, deployment_names)
        if grant is not None:
            grants.append(grant)
    return tuple(grants)


def _grant(
    c: Checker, path: str, raw: object, role_names: set[str], deployment_names: set[str]
) -> Grant | None:
    fields = c.mapping(path, raw, "a mapping with role and users or usergroups")
    if fields is None:
        return None
    c.known_keys(path, fields, _GRANT_KEYS)
    role = _role_ref(c, key_path(path, "role"), fields.get("role"), role_names)
    users = _ids(c, path, fields, "users", USER)
    usergroups = _ids(c, path, fields, "usergroups", USERGROUP)
    if not fields.get("users") and not fields.get("usergroups"):
        c.problem(path, "needs users: [U...] or usergroups: [S...]: who is this grant for?")
    channels = _ids(c, path, fields, "channels", CHANNEL)
    deployments = _names(c, path, fields, "deployments", deployment_names)
    dags = _dags(c, path, fields)
    if role is None:
        return None
    return Grant(
        role=role,
        users=users or frozenset(),
        usergroups=usergroups or frozenset(),
        channels=channels,
        deployments=deployments,
        dags=dags,
    )


def _role_ref(c: Checker, path: str, raw: object, role_names: set[str]) -> str | None:
    known = ", ".join(sorted(role_names))
    if raw is None:
        c.problem(path, f"required: one of {known}")
        return None
    role = c.string(path, raw)
    if role is None or role in role_names:
        return role
    c.problem(path, f"unknown role {show(role)}{did_you_mean(role, role_names)}; roles: {known}")
    return None


def _restriction(c: Checker, path: str, fields: Mapping[Any, Any], key: str) -> list[Any] | None:
    """An optional list; absent means "no restriction", but an empty one is surely a mistake."""
    if key not in fields:
        return None
    item_path = key_path(path, key)
    items = c.sequence(item_path, fields[key], _GRANT_LIST_EXAMPLES[key])
    if items is not None and not items and key not in ("users", "usergroups"):
        c.problem(item_path, f"is empty, which allows nothing; remove {key} to allow any")
    return items


def _ids(
    c: Checker, path: str, fields: Mapping[Any, Any], key: str, kind: IdKind
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    ids = (slack_id(c, f"{key_path(path, key)}[{i}]", item, kind) for i, item in enumerate(items))
    return frozenset(value for value in ids if value is not None)


def _names(
    c: Checker, path: str, fields: Mapping[Any, Any], key: str, names: set[str]
) -> frozenset[str] | None:
    items = _restriction(c, path, fields, key)
    if items is None:
        return None
    refs = (
        deployment_ref(c, f"{key_path(path, key)}[{i}]", item, names)
        for i, item in enumerate(items)
    )
    return frozenset(name for name in refs if name is not None)


def _dags(c: Checker, path: str, fields: Mapping[Any, Any]) -> tuple[str, ...] | None:
    items = _restriction(c, path, fields, "dags")
    if items is None:
        return None
    patterns = []
    for index, item in enumerate(items):
        item_path = f"{key_path(path, 'dags')}[{index}]"
        pattern = c.string(item_path, item)
        if pattern == "":
            c.problem(item_path, 'is empty; write a DAG id or a pattern like "etl_*"')
        elif pattern is not None:
            patterns.append(pattern)
    return tuple(patterns)
