"""The whole file: its top-level keys, `channels:`, `roles:` and `audit_channel:`.

`check_config` reads every section (deployments and grants in their own modules) into a
`Config`; what it cannot read is left out of it and recorded in the `Checker`, and then
`parse_config` raises instead of returning it.
"""

from __future__ import annotations

from bot.config.airflow_users import check_airflow_users
from bot.config.checker import Checker, did_you_mean, key_path, kind_of, show
from bot.config.deployments import check_deployments, deployment_ref
from bot.config.grants import check_grants
from bot.config.model import Config, VerbFacts
from bot.config.slack_ids import CHANNEL, slack_id
from bot.config.subscriptions import check_subscriptions

__all__ = ["check_config"]

_TOP_KEYS = (
    "deployments",
    "channels",
    "roles",
    "grants",
    "audit_channel",
    "subscriptions",
    "airflow_users",
)


def check_config(c: Checker, data: object, verbs: VerbFacts) -> Config:
    """The `Config` the parsed YAML describes; its problems are recorded in `c`."""
    if data is None:
        top = None
        c.problem("", "the file is empty; it needs at least a deployments: section")
    else:
        top = c.mapping("", data, "a mapping with a deployments: section at the top level")
    if top is None:
        # Nothing below the top can be read: one problem says it all.
        return Config(deployments={}, channels={}, roles=dict(verbs.builtin_roles), grants=())
    c.known_keys("", top, _TOP_KEYS, extensions=True)

    # Names that are merely broken inside still count as configured, so that one mistake
    # in a deployment is not reported again wherever it is referred to.
    raw_deployments = top.get("deployments")
    names = (
        {k for k in raw_deployments if isinstance(k, str)}
        if isinstance(raw_deployments, dict)
        else set()
    )
    deployments = check_deployments(c, raw_deployments, verbs.words)
    channels = _channels(c, top.get("channels"), names)
    roles, role_names = _roles(c, top.get("roles"), verbs)
    grants = check_grants(c, top.get("grants"), role_names, names)
    audit = top.get("audit_channel")
    audit_channel = None if audit is None else slack_id(c, "audit_channel", audit, CHANNEL)
    return Config(
        deployments=deployments,
        channels=channels,
        roles=roles,
        grants=grants,
        audit_channel=audit_channel,
        subscriptions=check_subscriptions(c, top.get("subscriptions"), names),
        airflow_users=check_airflow_users(c, top.get("airflow_users")),
    )


def _channels(c: Checker, raw: object, deployment_names: set[str]) -> dict[str, str]:
    if raw is None:
        return {}
    entries = c.mapping(
        "channels", raw, "a mapping of channel IDs to deployments, like C0123ABCD: prod"
    )
    channels: dict[str, str] = {}
    for channel, target in (entries or {}).items():
        path = key_path("channels", channel)
        if not isinstance(channel, str):
            c.problem(path, f"must be a Slack channel ID like C0123ABCD, got {kind_of(channel)}")
            continue
        channel_ok = slack_id(c, path, channel, CHANNEL, substitute=False) is not None
        name = deployment_ref(c, path, target, deployment_names)
        if channel_ok and name is not None:
            channels[channel] = name
    return channels


def _roles(c: Checker, raw: object, facts: VerbFacts) -> tuple[dict[str, frozenset[str]], set[str]]:
    roles = dict(facts.builtin_roles)
    if raw is None:
        return roles, set(roles)
    entries = c.mapping("roles", raw, "a mapping of role names to verbs, like ops: [list, trigger]")
    names = set(roles) | {name for name in entries or {} if isinstance(name, str)}
    for name, verbs in (entries or {}).items():
        path = key_path("roles", name)
        if not isinstance(name, str) or not name.strip():
            c.problem(path, f"a role name must be non-empty text, got {show(name)}")
            continue
        granted = _verbs(c, path, verbs, facts)
        if granted is not None:
            roles[name] = granted
    return roles, names


def _verbs(c: Checker, path: str, raw: object, facts: VerbFacts) -> frozenset[str] | None:
    items = c.sequence(path, raw, "[list, status, trigger]")
    if items is None:
        return None
    verbs: set[str] = set()
    known, everyone = facts.granted, facts.open
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        verb = c.string(item_path, item)
        if verb is None:
            continue
        if verb in known:
            verbs.add(verb)
        elif verb in everyone:
            c.problem(item_path, f"{verb!r} is open to everyone, not a permission: remove it")
        else:
            hint = did_you_mean(verb, known) or f" (verbs: {', '.join(sorted(known))})"
            c.problem(item_path, f"unknown verb {show(verb)}{hint}")
    return frozenset(verbs)
