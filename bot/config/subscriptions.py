"""The `subscriptions:` section: channels that watch a deployment's DAGs, kept as code.

Each entry names a channel, a deployment, DAG id patterns and events (`failed` when none is
named). Slack users cannot remove these with `/airflow unsubscribe`; the file is their home.
"""

from __future__ import annotations

from bot.config.checker import Checker, did_you_mean, key_path, show
from bot.config.deployments import deployment_ref
from bot.config.model import DEFAULT_EVENTS, EVENTS, Subscription
from bot.config.slack_ids import CHANNEL, slack_id

__all__ = ["check_subscriptions"]

_KEYS = ("channel", "deployment", "dags", "events")
_EXAMPLE = '[{channel: C0ALERTS1, deployment: prod, dags: ["etl_*"], events: [failed]}]'


def check_subscriptions(
    c: Checker, raw: object, deployment_names: set[str]
) -> tuple[Subscription, ...]:
    if raw is None:
        return ()
    items = c.sequence("subscriptions", raw, _EXAMPLE)
    found: list[Subscription] = []
    for index, item in enumerate(items or []):
        path = f"subscriptions[{index}]"
        fields = c.mapping(path, item, "a mapping with channel, deployment and dags")
        if fields is None:
            continue
        c.known_keys(path, fields, _KEYS)
        channel = None
        if "channel" not in fields:
            c.problem(path, "needs channel: the ID of the channel to post in, like C0ALERTS1")
        else:
            channel = slack_id(c, key_path(path, "channel"), fields["channel"], CHANNEL)
        deployment = deployment_ref(c, key_path(path, "deployment"), fields.get("deployment"),
                                    deployment_names)  # fmt: skip
        globs = _globs(c, key_path(path, "dags"), fields.get("dags"))
        events = _events(c, key_path(path, "events"), fields.get("events"))
        if channel and deployment and globs and events:
            found += [Subscription(channel, deployment, glob, events) for glob in globs]
    return tuple(found)


def _globs(c: Checker, path: str, raw: object) -> list[str]:
    if raw is None:
        c.problem(path, 'required: DAG ids or patterns, like ["etl_*"] (["*"] for every DAG)')
        return []
    items = c.sequence(path, raw, '["etl_*"]') or []
    globs = []
    for index, item in enumerate(items):
        glob = c.string(f"{path}[{index}]", item)
        if glob == "":
            c.problem(f"{path}[{index}]", 'is empty; write a DAG id or a pattern like "etl_*"')
        elif glob is not None:
            globs.append(glob)
    if not items:
        c.problem(path, 'is empty, which watches nothing; write ["*"] for every DAG')
    return globs


def _events(c: Checker, path: str, raw: object) -> frozenset[str]:
    if raw is None:
        return DEFAULT_EVENTS
    items = c.sequence(path, raw, "[failed, success]") or []
    events = set()
    for index, item in enumerate(items):
        event = c.string(f"{path}[{index}]", item)
        if event in EVENTS:
            events.add(event)
        elif event is not None:
            hint = did_you_mean(event, EVENTS) or f" (events: {', '.join(EVENTS)})"
            c.problem(f"{path}[{index}]", f"unknown event {show(event)}{hint}")
    if not items:
        c.problem(path, "is empty; leave it out for failed, or name failed, success or hitl")
    return frozenset(events)
