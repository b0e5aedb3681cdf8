"""Permissions from the config's roles and grants, with user groups read from the Slack stand-in.

Deny by default; a denial names what was missing; a group's rights end when the cache expires.
"""

from __future__ import annotations

import pytest

from bot.config import parse_config
from bot.core.permissions import Permissions
from bot.slack.usergroups import UserGroups
from bot.slack.web import make_web_client
from bot.tools.localslack import SlackStandin
from commands import REGISTRY

VERB_FACTS = REGISTRY.facts()
DEPLOYMENTS = """
deployments:
  prod: {url: "https://prod.example.com", token: "${T}"}
  dev: {url: "https://dev.example.com", token: "${T}"}
"""
VERBS = ("list", "status", "trigger", "pause", "unpause")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def permissions(
    slack: SlackStandin, grants: str, *, clock: Clock | None = None, ttl: float = 120
) -> Permissions:
    config = parse_config(DEPLOYMENTS + grants, {"T": "token-value"}, verbs=VERB_FACTS)
    client = make_web_client(slack.bot_token, slack.api_url)
    groups = UserGroups(client, ttl=ttl, clock=clock or Clock())
    return Permissions(config, groups, open_verbs=REGISTRY.open)


def test_with_no_grants_every_acting_verb_is_denied_and_says_how_to_get_one(
    slack_fresh: SlackStandin,
) -> None:
    access = permissions(slack_fresh, "").access_for("U0NOBODY")
    for verb in VERBS:
        decision = access.check(channel_id="C1", verb=verb, deployment="prod", dag_id="etl")
        assert not decision.allowed
        assert "no permissions" in decision.reason and "`U0NOBODY`" in decision.reason
    # help, deployments and whoami need no grant: they are how one finds out what to ask for.
    for verb in REGISTRY.open:
        assert access.check(channel_id="C1", verb=verb).allowed
    assert access.verbs_here("C1") == REGISTRY.open


def test_a_user_named_in_an_operator_grant_may_do_everything_everywhere(
    slack_fresh: SlackStandin,
) -> None:
    access = permissions(slack_fresh, "grants: [{role: operator, users: [U0ALICE]}]").access_for(
        "U0ALICE"
    )
    for verb in VERBS:
        for dep in ("prod", "dev"):
            assert access.check(channel_id="C9", verb=verb, deployment=dep, dag_id="x").allowed
    # Named outright: Slack is not asked about any group.
    assert slack_fresh.calls_to("usergroups.users.list") == []


def test_a_viewer_may_look_but_not_act(slack_fresh: SlackStandin) -> None:
    access = permissions(slack_fresh, "grants: [{role: viewer, users: [U0ALICE]}]").access_for(
        "U0ALICE"
    )
    assert access.check(channel_id="C1", verb="list", deployment="prod").allowed
    assert access.check(channel_id="C1", verb="status", deployment="prod", dag_id="etl").allowed
    decision = access.check(channel_id="C1", verb="trigger", deployment="prod", dag_id="etl")
    assert not decision.allowed
    assert decision.reason == "None of your grants allows `trigger`."
    assert access.verbs_here("C1") == REGISTRY.open | {"list", "status", "logs"}


def test_limits_on_deployments_channels_and_dags_are_named_in_the_denial(
    slack_fresh: SlackStandin,
) -> None:
    grants = """
grants:
  - role: operator
    users: [U0ALICE]
    deployments: [dev]
    channels: [C0OPS]
    dags: ["etl_*", "report"]
"""
    access = permissions(slack_fresh, grants).access_for("U0ALICE")
    assert access.check(channel_id="C0OPS", verb="pause", deployment="dev", dag_id="etl_a").allowed
    assert access.check(channel_id="C0OPS", verb="pause", deployment="dev", dag_id="report").allowed

    # A verb that names no DAG (list) is allowed where the grant applies: the DAG globs then
    # narrow what it shows, they do not refuse it.
    assert access.check(channel_id="C0OPS", verb="list", deployment="dev").allowed

    wrong_dep = access.check(channel_id="C0OPS", verb="pause", deployment="prod", dag_id="etl_a")
    assert not wrong_dep.allowed
    assert wrong_dep.reason == "You may `pause` only on `dev`, not on `prod`."
    wrong_channel = access.check(
        channel_id="C0ELSE", verb="pause", deployment="dev", dag_id="etl_a"
    )
    assert not wrong_channel.allowed
    assert wrong_channel.reason == "You may `pause` on `dev` only in <#C0OPS>, not here."
    wrong_dag = access.check(channel_id="C0OPS", verb="pause", deployment="dev", dag_id="reports")
    assert not wrong_dag.allowed
    assert wrong_dag.reason == (
        "You may `pause` on `dev` only DAGs matching `etl_*`, `report`; `reports` is not one."
    )
    # Globs are case-sensitive, as DAG ids are.
    assert not access.check(
        channel_id="C0OPS", verb="pause", deployment="dev", dag_id="ETL_a"
    ).allowed
    assert access.dag_globs(channel_id="C0OPS", verb="list", deployment="dev") == (
        "etl_*",
        "report",
    )
    assert access.verbs_here("C0ELSE") == REGISTRY.open


def test_grants_add_up(slack_fresh: SlackStandin) -> None:
    grants = """
grants:
  - {role: viewer, users: [U0ALICE]}
  - {role: operator, users: [U0ALICE], deployments: [dev], dags: ["etl_*"]}
  - {role: operator, users: [U0ALICE], deployments: [dev], dags: ["ml_*"]}
"""
    access = permissions(slack_fresh, grants).access_for("U0ALICE")
    assert access.check(channel_id="C1", verb="list", deployment="prod").allowed
    assert access.dag_globs(channel_id="C1", verb="list", deployment="prod") is None
    assert access.dag_globs(channel_id="C1", verb="trigger", deployment="dev") == ("etl_*", "ml_*")
    assert access.check(channel_id="C1", verb="trigger", deployment="dev", dag_id="ml_x").allowed
    assert not access.check(
        channel_id="C1", verb="trigger", deployment="prod", dag_id="ml_x"
    ).allowed


def test_a_custom_role_gives_exactly_its_verbs(slack_fresh: SlackStandin) -> None:
    grants = "roles: {pauser: [list, pause]}\ngrants: [{role: pauser, users: [U0ALICE]}]"
    access = permissions(slack_fresh, grants).access_for("U0ALICE")
    assert access.check(channel_id="C1", verb="pause", deployment="dev", dag_id="x").allowed
    assert not access.check(channel_id="C1", verb="unpause", deployment="dev", dag_id="x").allowed
    assert not access.check(channel_id="C1", verb="trigger", deployment="dev", dag_id="x").allowed


def test_a_user_group_grant_follows_membership_once_the_cache_expires(
    slack_fresh: SlackStandin,
) -> None:
    slack_fresh.set_usergroup("S0OPS", ["U0ALICE", "U0BOB"])
    clock = Clock()
    perms = permissions(
        slack_fresh, "grants: [{role: operator, usergroups: [S0OPS]}]", clock=clock, ttl=120
    )
    access = perms.access_for("U0ALICE")
    assert access.check(channel_id="C1", verb="trigger", deployment="prod", dag_id="x").allowed
    assert [s.via for s in access.scopes] == ["<!subteam^S0OPS>"]
    assert (
        not perms.access_for("U0CAROL")
        .check(channel_id="C1", verb="list", deployment="prod")
        .allowed
    )

    slack_fresh.set_usergroup("S0OPS", ["U0BOB"])  # U0ALICE leaves the group
    clock.now += 60
    # Within the cache's lifetime the old membership still stands, without asking Slack again.
    assert (
        perms.access_for("U0ALICE").check(channel_id="C1", verb="list", deployment="prod").allowed
    )
    assert len(slack_fresh.calls_to("usergroups.users.list")) == 1

    clock.now += 61
    decision = perms.access_for("U0ALICE").check(channel_id="C1", verb="trigger", deployment="prod")
    assert not decision.allowed and "no permissions" in decision.reason
    assert len(slack_fresh.calls_to("usergroups.users.list")) == 2
    assert (
        perms.access_for("U0BOB").check(channel_id="C1", verb="trigger", deployment="prod").allowed
    )


def test_a_group_slack_cannot_list_grants_nothing_until_it_can(slack_fresh: SlackStandin) -> None:
    slack_fresh.set_usergroup("S0OPS", ["U0ALICE"])
    perms = permissions(slack_fresh, "grants: [{role: operator, usergroups: [S0OPS]}]")
    slack_fresh.fail_next("usergroups.users.list", "missing_scope")
    decision = perms.access_for("U0ALICE").check(channel_id="C1", verb="pause", deployment="prod")
    assert not decision.allowed
    assert "could not tell whether you are in <!subteam^S0OPS>" in decision.reason
    # A failure is not cached: the next command asks again and gets the right answer.
    assert (
        perms.access_for("U0ALICE").check(channel_id="C1", verb="pause", deployment="prod").allowed
    )


@pytest.mark.parametrize("verb", VERBS)
def test_a_missing_group_denies_rather_than_errs(slack_fresh: SlackStandin, verb: str) -> None:
    perms = permissions(slack_fresh, "grants: [{role: operator, usergroups: [S0GONE]}]")
    decision = perms.access_for("U0ALICE").check(channel_id="C1", verb=verb, deployment="dev")
    assert not decision.allowed
