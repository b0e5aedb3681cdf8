"""The config file: what an operator writes, and what they read back when it is wrong."""

from __future__ import annotations

import contextlib
import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import (
    Config,
    ConfigError,
    Deployment,
    Grant,
    load_config,
    parse_config,
)
from commands import REGISTRY

VERB_FACTS = REGISTRY.facts()
PROD_TOKEN = "astro-prod-token-5f3a9c"
DEV_PASSWORD = "dev-password-77e1b0"
ENV = {"ASTRO_PROD_TOKEN": PROD_TOKEN, "AIRFLOW_DEV_PASSWORD": DEV_PASSWORD}

# The example from INTERFACE.md, as a user would copy it.
EXAMPLE = """\
deployments:
  prod:                                   # the name users type
    url: https://mycompany.astronomer.run/dhbhijp0   # base URL, before /api/v1 or /api/v2
    token: ${ASTRO_PROD_TOKEN}            # sent as Authorization: Bearer
    confirm: true                         # trigger/pause/unpause here ask for a confirmation click
  dev:
    url: http://localhost:8080
    username: admin                       # basic auth on Airflow 2, POST /auth/token on Airflow 3
    password: ${AIRFLOW_DEV_PASSWORD}
    api_version: auto                     # auto | v1 | v2
channels:
  C0123ABCD: prod                         # default deployment for a channel
roles:                                    # viewer and operator are built in; more may be added
  viewer: [list, status]
  operator: [list, status, trigger, pause, unpause]
grants:                                   # nothing is allowed that no grant allows
  - role: operator
    users: [U012ABCDEF]                   # Slack user IDs, never display names
    usergroups: [S0123ABCD]               # Slack user groups, resolved through the Web API
    channels: [C0123ABCD]                 # optional: only when asked in these channels
    deployments: [prod]                   # optional: default all
    dags: ["etl_*"]                       # optional glob list: default all
audit_channel: C0AUDIT01                  # optional: every action is also posted here
"""

MINIMAL = """\
deployments:
  prod:
    url: https://airflow.example.com
    token: ${ASTRO_PROD_TOKEN}
"""


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), ENV if env is None else env, verbs=VERB_FACTS)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return caught.value.problems


def with_deployment(body: str, rest: str = "") -> str:
    """A config whose one deployment `prod` has `body` (indented under it)."""
    indented = textwrap.indent(textwrap.dedent(body), "    ")
    return f"deployments:\n  prod:\n{indented}{textwrap.dedent(rest)}"


def with_grant(body: str) -> str:
    indented = textwrap.indent(textwrap.dedent(body), "    ")
    return MINIMAL + "grants:\n  -\n" + indented


# --- a good config ------------------------------------------------------------------------


def test_the_documented_example_loads_as_written() -> None:
    config = parse(EXAMPLE)

    assert list(config.deployments) == ["prod", "dev"]
    assert config.deployments["prod"] == Deployment(
        name="prod",
        url="https://mycompany.astronomer.run/dhbhijp0",
        token=PROD_TOKEN,
        confirm=True,
    )
    assert config.deployments["dev"] == Deployment(
        name="dev", url="http://localhost:8080", username="admin", password=DEV_PASSWORD
    )
    assert config.channels == {"C0123ABCD": "prod"}
    # The example spells out the built-in roles as they were before more verbs joined them.
    assert config.roles == {
        "viewer": frozenset({"list", "status"}),
        "operator": frozenset({"list", "status", "trigger", "pause", "unpause"}),
    }
    assert config.grants == (
        Grant(
            role="operator",
            users=frozenset({"U012ABCDEF"}),
            usergroups=frozenset({"S0123ABCD"}),
            channels=frozenset({"C0123ABCD"}),
            deployments=frozenset({"prod"}),
            dags=("etl_*",),
        ),
    )
    assert config.audit_channel == "C0AUDIT01"


def test_defaults_when_optional_keys_are_left_out() -> None:
    config = parse(MINIMAL)

    prod = config.deployments["prod"]
    assert (prod.api_version, prod.confirm, prod.timeout) == ("auto", False, 10.0)
    assert config.channels == {}
    assert config.roles == REGISTRY.builtin_roles()
    assert config.grants == ()
    assert config.audit_channel is None


def test_a_grant_without_restrictions_allows_every_channel_deployment_and_dag() -> None:
    config = parse(with_grant("role: viewer\nusers: [U012ABCDEF]\n"))

    assert config.grants == (Grant(role="viewer", users=frozenset({"U012ABCDEF"})),)
    grant = config.grants[0]
    assert (grant.channels, grant.deployments, grant.dags) == (None, None, None)


def test_empty_optional_sections_count_as_absent() -> None:
    config = parse(MINIMAL + "channels:\nroles:\ngrants:\naudit_channel:\n")

    assert (config.channels, config.roles, config.grants) == ({}, REGISTRY.builtin_roles(), ())


def test_the_base_url_loses_its_trailing_slash() -> None:
    config = parse(
        with_deployment("url: https://airflow.example.com/team/\ntoken: ${ASTRO_PROD_TOKEN}\n")
    )

    assert config.deployments["prod"].url == "https://airflow.example.com/team"


def test_api_version_confirm_and_timeout_are_read() -> None:
    config = parse(
        with_deployment(
            """\
            url: http://localhost:8080
            token: ${ASTRO_PROD_TOKEN}
            api_version: v2
            confirm: true
            timeout: 30
            """
        )
    )

    prod = config.deployments["prod"]
    assert (prod.api_version, prod.confirm, prod.timeout) == ("v2", True, 30.0)


def test_the_file_may_add_roles_and_redefine_builtin_ones() -> None:
    config = parse(
        MINIMAL
        + """\
roles:
  viewer: [list]
  janitor: [clear, status]
grants:
  - role: janitor
    usergroups: [S0123ABCD]
"""
    )

    assert config.roles["viewer"] == frozenset({"list"})
    assert config.roles["operator"] == REGISTRY.builtin_roles()["operator"]
    assert config.roles["janitor"] == frozenset({"clear", "status"})
    assert config.grants[0].role == "janitor"


def test_known_verbs_are_the_permission_verbs() -> None:
    granted = {"list", "status", "logs", "trigger", "pause", "unpause", "clear", "mark"}
    granted |= {"subscribe", "unsubscribe", "respond"}
    assert frozenset(granted) == REGISTRY.granted


# --- default deployment -------------------------------------------------------------------


def test_a_channel_default_wins_over_everything() -> None:
    config = parse(EXAMPLE)

    assert config.default_deployment("C0123ABCD") == "prod"


def test_no_default_when_several_deployments_and_no_channel_default() -> None:
    config = parse(EXAMPLE)

    assert config.default_deployment("C0OTHER99") is None


def test_the_only_deployment_is_the_default_everywhere() -> None:
    config = parse(MINIMAL)

    assert config.default_deployment("C0OTHER99") == "prod"


# --- ${VAR} -------------------------------------------------------------------------------


def test_variables_are_filled_in_anywhere_in_a_string() -> None:
    config = parse(
        with_deployment("url: https://${HOST}:${PORT}/x\ntoken: ${ASTRO_PROD_TOKEN}\n"),
        {**ENV, "HOST": "airflow.internal", "PORT": "8443"},
    )

    assert config.deployments["prod"].url == "https://airflow.internal:8443/x"


def test_a_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    text = with_deployment("url: ${URL:-http://localhost:8080}\ntoken: ${ASTRO_PROD_TOKEN}\n")

    assert parse(text).deployments["prod"].url == "http://localhost:8080"
    assert parse(text, {**ENV, "URL": ""}).deployments["prod"].url == "http://localhost:8080"
    assert parse(text, {**ENV, "URL": "http://a.b"}).deployments["prod"].url == "http://a.b"


def test_double_dollar_is_a_literal_dollar() -> None:
    config = parse(
        with_deployment(
            'url: http://localhost\nusername: "a$$b$${NOT}"\npassword: ${AIRFLOW_DEV_PASSWORD}\n'
        )
    )

    assert config.deployments["prod"].username == "a$b${NOT}"


def test_a_variable_cannot_inject_yaml_structure() -> None:
    sneaky = "admin\ngrants: [{role: operator, users: [U0EVIL123]}]"
    config = parse(
        with_deployment(
            "url: http://localhost\nusername: ${USER}\npassword: ${AIRFLOW_DEV_PASSWORD}\n"
        ),
        {**ENV, "USER": sneaky},
    )

    assert config.deployments["prod"].username == sneaky
    assert config.grants == ()


def test_a_value_from_the_environment_is_not_substituted_again() -> None:
    config = parse(
        with_deployment(
            "url: http://localhost\nusername: ${USER}\npassword: ${AIRFLOW_DEV_PASSWORD}\n"
        ),
        {**ENV, "USER": "${ASTRO_PROD_TOKEN}"},
    )

    assert config.deployments["prod"].username == "${ASTRO_PROD_TOKEN}"


def test_an_unset_variable_is_named_with_its_path() -> None:
    assert problems(EXAMPLE, {"AIRFLOW_DEV_PASSWORD": "x"}) == [
        "deployments.prod.token: environment variable ASTRO_PROD_TOKEN is not set"
    ]


def test_broken_references_say_how_to_write_them() -> None:
    found = problems(with_deployment('url: "http://x/${HOST"\ntoken: ${ASTRO_PROD_TOKEN}\n'))
    assert found == ["deployments.prod.url: '${' without a closing '}'; write $$ for a literal $"]

    found = problems(with_deployment('url: "http://${1HOST}"\ntoken: ${ASTRO_PROD_TOKEN}\n'))
    assert found == [
        "deployments.prod.url: '${1HOST}' is not a variable reference; write ${NAME} or "
        "${NAME:-default}, or $$ for a literal $"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"${V"', "'${' without a closing '}'; write $$ for a literal $"),
        (
            '"${1V}"',
            "'${1V}' is not a variable reference; write ${NAME} or ${NAME:-default}, "
            "or $$ for a literal $",
        ),
        ("${UNSET}", "environment variable UNSET is not set"),
    ],
)
def test_a_reference_that_cannot_be_filled_in_is_one_problem_not_two(
    value: str, problem: str
) -> None:
    # The field is not then checked as if the reference were empty text.
    found = problems(
        with_deployment(f"url: http://x\ntoken: ${{ASTRO_PROD_TOKEN}}\napi_version: {value}\n")
    )

    assert found == [f"deployments.prod.api_version: {problem}"]


def test_a_lone_dollar_is_kept() -> None:
    config = parse(
        with_deployment(
            "url: http://localhost\nusername: $admin\npassword: ${AIRFLOW_DEV_PASSWORD}\n"
        )
    )

    assert config.deployments["prod"].username == "$admin"


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "abc123secretvalue",
        "${ASTRO_PROD_TOKEN:-abc123secretvalue}",
        "Bearer ${ASTRO_PROD_TOKEN}",
        "12345",
    ],
)
def test_a_secret_written_in_the_file_is_refused_without_repeating_it(token: str) -> None:
    found = problems(with_deployment(f"url: http://localhost\ntoken: '{token}'\n"))

    assert found == [
        "deployments.prod.token: put the secret in the environment and write ${VAR} here"
    ]


def test_a_literal_password_is_refused_too() -> None:
    found = problems(with_deployment("url: http://localhost\nusername: admin\npassword: hunter2\n"))

    assert found == [
        "deployments.prod.password: put the secret in the environment and write ${VAR} here"
    ]
    assert "hunter2" not in str(found)


def test_an_empty_secret_variable_is_a_problem() -> None:
    found = problems(MINIMAL, {"ASTRO_PROD_TOKEN": ""})

    assert found == ["deployments.prod.token: environment variable ASTRO_PROD_TOKEN is empty"]


def test_reprs_never_show_secrets() -> None:
    config = parse(EXAMPLE)

    for text in (repr(config), str(config), repr(config.deployments["dev"])):
        assert PROD_TOKEN not in text
        assert DEV_PASSWORD not in text
    assert "token=***" in repr(config.deployments["prod"])
    assert "password=***" in repr(config.deployments["dev"])
    assert "password=None" in repr(config.deployments["prod"])


def test_a_secret_put_in_another_field_by_mistake_is_not_shown() -> None:
    # The same variable as token and (wrongly) as url: the url problem must not echo it.
    found = problems(
        with_deployment("url: ${ASTRO_PROD_TOKEN}\ntoken: ${ASTRO_PROD_TOKEN}\n"),
        {"ASTRO_PROD_TOKEN": "ftp-not-a-url-secret"},
    )

    assert found == ["deployments.prod.url: must start with http:// or https://, got '***'"]


def test_a_secret_inside_a_longer_one_does_not_uncover_the_rest() -> None:
    found = problems(
        "deployments:\n"
        "  prod: {url: 'ftp://${LONG}', token: '${SHORT}'}\n"
        "  dev: {url: 'http://dev', username: admin, password: '${LONG}'}\n",
        {"SHORT": "s3cret", "LONG": "s3cret-and-more"},
    )

    assert found == ["deployments.prod.url: must start with http:// or https://, got 'ftp://***'"]


def test_x_keys_are_extensions_only_at_the_top() -> None:
    found = problems(with_deployment("url: http://x\ntoken: ${ASTRO_PROD_TOKEN}\nx-notes: hi\n"))

    assert len(found) == 1
    assert found[0].startswith("deployments.prod: unknown key 'x-notes'; expected one of url, ")


# --- credentials --------------------------------------------------------------------------


def test_a_deployment_needs_credentials() -> None:
    assert problems(with_deployment("url: http://localhost\n")) == [
        "deployments.prod: needs credentials: token: ${VAR} (an Astro API token), username "
        "and password: ${VAR}, client_id and client_secret: ${VAR} (an Astro Deployment API "
        "key), auth: google (Cloud Composer) or auth: mwaa (Amazon MWAA)"
    ]


def test_token_and_basic_auth_together_are_refused() -> None:
    found = problems(
        with_deployment(
            """\
            url: http://localhost
            token: ${ASTRO_PROD_TOKEN}
            username: admin
            password: ${AIRFLOW_DEV_PASSWORD}
            """
        )
    )

    assert found == [
        "deployments.prod: use one way to sign in: token or username/password, not both"
    ]


def test_half_of_basic_auth_is_refused() -> None:
    assert problems(with_deployment("url: http://localhost\nusername: admin\n")) == [
        "deployments.prod: username needs a password: ${VAR} too"
    ]
    assert problems(
        with_deployment("url: http://localhost\npassword: ${AIRFLOW_DEV_PASSWORD}\n")
    ) == ["deployments.prod: password needs a username too"]


# --- urls ---------------------------------------------------------------------------------


def test_a_url_must_be_http_or_https() -> None:
    assert problems(with_deployment("url: ftp://x\ntoken: ${ASTRO_PROD_TOKEN}\n")) == [
        "deployments.prod.url: must start with http:// or https://, got 'ftp://x'"
    ]


def test_a_url_is_required() -> None:
    assert problems(with_deployment("token: ${ASTRO_PROD_TOKEN}\n")) == [
        "deployments.prod.url: required: the Airflow base URL, like https://airflow.example.com"
    ]


def test_credentials_in_the_url_are_refused_and_not_repeated() -> None:
    found = problems(with_deployment("url: https://admin:pw123@x.io\ntoken: ${ASTRO_PROD_TOKEN}\n"))

    assert found == [
        "deployments.prod.url: must not hold credentials; use token, or username and password"
    ]


@pytest.mark.parametrize("url", ["https://x.io/?token=abc", "https://x.io/#top"])
def test_a_url_with_query_or_fragment_is_refused(url: str) -> None:
    assert problems(with_deployment(f"url: '{url}'\ntoken: ${{ASTRO_PROD_TOKEN}}\n")) == [
        "deployments.prod.url: must not have a ?query or #fragment: give the base URL only"
    ]


def test_a_url_ending_in_the_api_path_gets_the_base_url_hint() -> None:
    assert problems(with_deployment("url: https://x.io/api/v1/\ntoken: ${ASTRO_PROD_TOKEN}\n")) == [
        "deployments.prod.url: give the base URL, without /api/v1 or /api/v2: the bot adds it"
    ]


@pytest.mark.parametrize("url", ["http://", "https://x.io:99999", "http://[::1", "http://a b"])
def test_a_malformed_url_is_refused(url: str) -> None:
    found = problems(with_deployment(f"url: '{url}'\ntoken: ${{ASTRO_PROD_TOKEN}}\n"))

    assert found == [f"deployments.prod.url: is not a valid URL, got {url!r}"]


# --- other deployment fields --------------------------------------------------------------


def test_bad_api_version_confirm_and_timeout_are_each_reported() -> None:
    found = problems(
        with_deployment(
            """\
            url: http://localhost
            token: ${ASTRO_PROD_TOKEN}
            api_version: v3
            confirm: maybe
            timeout: 0
            """
        )
    )

    assert found == [
        "deployments.prod.api_version: must be one of auto, v1, v2, got 'v3'",
        "deployments.prod.confirm: must be true or false, got 'maybe'",
        "deployments.prod.timeout: must be a number of seconds above 0 and at most 300, got 0",
    ]


def test_a_bare_api_version_number_gets_the_spelling() -> None:
    found = problems(
        with_deployment("url: http://localhost\ntoken: ${ASTRO_PROD_TOKEN}\napi_version: 2\n")
    )

    assert found == ["deployments.prod.api_version: must be one of auto, v1, v2: write v2"]


@pytest.mark.parametrize("timeout", ["301", ".nan", ".inf", "-1", "true", "'10'"])
def test_timeouts_out_of_range_are_refused(timeout: str) -> None:
    found = problems(
        with_deployment(
            f"url: http://localhost\ntoken: ${{ASTRO_PROD_TOKEN}}\ntimeout: {timeout}\n"
        )
    )

    assert len(found) == 1
    assert found[0].startswith(
        "deployments.prod.timeout: must be a number of seconds above 0 and at most 300, got "
    )


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("256", 256), ("4", 4)])
def test_max_in_flight_from_1_to_256_is_read(raw: str, expected: int) -> None:
    config = parse(
        with_deployment(
            f"url: http://localhost\ntoken: ${{ASTRO_PROD_TOKEN}}\nmax_in_flight: {raw}\n"
        )
    )

    assert config.deployments["prod"].max_in_flight == expected


def test_max_in_flight_defaults_to_16() -> None:
    assert parse(MINIMAL).deployments["prod"].max_in_flight == 16


@pytest.mark.parametrize("raw", ["0", "257", "true", "'4'", "2.5", "-1"])
def test_max_in_flight_out_of_range_is_refused(raw: str) -> None:
    found = problems(
        with_deployment(
            f"url: http://localhost\ntoken: ${{ASTRO_PROD_TOKEN}}\nmax_in_flight: {raw}\n"
        )
    )

    assert len(found) == 1
    assert found[0].startswith(
        "deployments.prod.max_in_flight: must be a whole number of calls from 1 to 256, got "
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("[v2]", "a list"), ("{v: 2}", "a mapping"), ("true", "true"), ("'${V}'", "'v9'")],
)
def test_an_api_version_that_is_not_one_of_the_three_is_refused(raw: str, shown: str) -> None:
    found = problems(
        with_deployment(
            f"url: http://localhost\ntoken: ${{ASTRO_PROD_TOKEN}}\napi_version: {raw}\n"
        ),
        env={**ENV, "V": "v9"},
    )

    assert found == [f"deployments.prod.api_version: must be one of auto, v1, v2, got {shown}"]


def test_an_api_version_may_come_from_the_environment() -> None:
    config = parse(
        with_deployment("url: http://localhost\ntoken: ${ASTRO_PROD_TOKEN}\napi_version: ${V}\n"),
        env={**ENV, "V": "v1"},
    )

    assert config.deployments["prod"].api_version == "v1"


# --- names and keys -----------------------------------------------------------------------


def test_an_unknown_top_level_key_suggests_the_right_one() -> None:
    found = problems("deploymnets:\n  prod: {}\n" + MINIMAL)

    assert found[0].startswith("unknown key 'deploymnets' (did you mean 'deployments'?)")


def test_unknown_keys_in_a_deployment_and_a_grant_are_reported() -> None:
    found = problems(
        with_deployment("url: http://localhost\ntoken: ${ASTRO_PROD_TOKEN}\nconfrim: true\n")
        + "grants:\n  - {role: viewer, users: [U012ABCDEF], dag: [etl]}\n"
    )

    assert found == [
        "deployments.prod: unknown key 'confrim' (did you mean 'confirm'?); expected one of "
        "url, token, username, password, auth, client_id, client_secret, token_url, audience, "
        "scope, environment, region, mwaa_mode, api_version, confirm, confirm_timeout, "
        "approvers, timeout, max_in_flight",
        "grants[0]: unknown key 'dag' (did you mean 'dags'?); expected one of "
        "role, users, usergroups, channels, deployments, dags",
    ]


@pytest.mark.parametrize("name", ["Prod", "prod env", "-prod", "p" * 41, "prød"])
def test_deployment_names_must_be_easy_to_type(name: str) -> None:
    found = problems(
        f"deployments:\n  '{name}':\n    url: http://x\n    token: ${{T}}\n", {"T": "t"}
    )

    assert len(found) == 1
    assert found[0].endswith(
        ": a deployment name is typed in Slack: use 1-40 lower-case letters, digits, '-' or '_', "
        "starting with a letter or digit"
    )


@pytest.mark.parametrize("verb", ["help", "deployments", "list", "trigger", "whoami", "clear"])
def test_a_deployment_may_not_be_named_like_a_command(verb: str) -> None:
    found = problems(f"deployments:\n  {verb}:\n    url: http://x\n    token: ${{T}}\n", {"T": "t"})

    assert found == [
        f"deployments.{verb}: {verb!r} is a command word; name the deployment something else"
    ]


def test_a_name_yaml_reads_as_a_number_or_boolean_gets_told_to_quote_it() -> None:
    found = problems("deployments:\n  1:\n    url: http://x\n    token: ${T}\n", {"T": "t"})

    assert found == ["deployments.1: a deployment name must be text, got a number; quote it"]


def test_deployments_are_required() -> None:
    assert problems("channels: {}\n") == [
        "deployments: at least one deployment is required, like deployments: "
        "{prod: {url: https://..., token: ${ASTRO_PROD_TOKEN}}}"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deployments: [prod]\n", "deployments: must be a mapping of names to deployments"),
        ("deployments:\n  prod: https://x\n", "deployments.prod: must be a mapping with url"),
        (MINIMAL + "channels: [C0123ABCD]\n", "channels: must be a mapping of channel IDs"),
        (MINIMAL + "roles: [ops]\n", "roles: must be a mapping of role names to verbs"),
        (MINIMAL + "roles: {ops: list}\n", "roles.ops: must be a list, like [list, status"),
        (MINIMAL + "grants: {role: viewer}\n", "grants: must be a list, like [{role: operator"),
        (MINIMAL + "grants: [viewer]\n", "grants[0]: must be a mapping with role and users"),
        (
            with_grant("role: viewer\nusers: U012ABCDEF\n"),
            "grants[0].users: must be a list, like [U012ABCDEF], got text",
        ),
    ],
)
def test_the_wrong_shape_is_a_problem_at_its_path(text: str, expected: str) -> None:
    found = problems(text)

    assert len(found) == 1
    assert found[0].startswith(expected)


# --- channels, roles, grants, audit -------------------------------------------------------


def test_channel_defaults_need_channel_ids_and_known_deployments() -> None:
    found = problems(MINIMAL + "channels:\n  '#ops': prod\n  c0123abcd: prod\n  C0123ABCD: prdo\n")

    assert found == [
        "channels.'#ops': '#ops' is not a Slack channel ID like C0123ABCD; use the channel ID "
        "(C...), not its name",
        "channels.c0123abcd: Slack IDs are upper case with no spaces: write C0123ABCD",
        "channels.C0123ABCD: unknown deployment 'prdo' (did you mean 'prod'?); configured: prod",
    ]


def test_an_unknown_verb_in_a_role_suggests_the_right_one() -> None:
    found = problems(MINIMAL + "roles:\n  ops: [list, status, trigerr, whoami, nap]\n")

    assert found == [
        "roles.ops[2]: unknown verb 'trigerr' (did you mean 'trigger'?)",
        "roles.ops[3]: 'whoami' is open to everyone, not a permission: remove it",
        "roles.ops[4]: unknown verb 'nap' (verbs: clear, list, logs, mark, pause, respond, "
        "status, subscribe, trigger, unpause, unsubscribe)",
    ]


def test_a_display_name_instead_of_a_user_id_gets_the_hint() -> None:
    found = problems(with_grant("role: viewer\nusers: ['@alice']\n"))

    assert found == [
        "grants[0].users[0]: '@alice' is not a Slack user ID like U012ABCDEF; use the Slack user "
        "ID (U...), not a display name"
    ]


def test_a_group_handle_or_channel_name_gets_its_hint() -> None:
    found = problems(with_grant("role: viewer\nusergroups: ['@oncall']\nchannels: ['#ops']\n"))

    assert found == [
        "grants[0].usergroups[0]: '@oncall' is not a Slack user group ID like S0123ABCD; use the "
        "user group ID (S...), not its handle",
        "grants[0].channels[0]: '#ops' is not a Slack channel ID like C0123ABCD; use the channel "
        "ID (C...), not its name",
    ]


def test_a_grant_must_say_who_it_is_for() -> None:
    for body in ("role: viewer\n", "role: viewer\nusers: []\nusergroups: []\n"):
        assert problems(with_grant(body)) == [
            "grants[0]: needs users: [U...] or usergroups: [S...]: who is this grant for?"
        ]


def test_a_grant_needs_a_known_role() -> None:
    assert problems(with_grant("role: operater\nusers: [U012ABCDEF]\n")) == [
        "grants[0].role: unknown role 'operater' (did you mean 'operator'?); "
        "roles: operator, viewer"
    ]
    assert problems(with_grant("users: [U012ABCDEF]\n")) == [
        "grants[0].role: required: one of operator, viewer"
    ]


def test_a_grant_names_only_configured_deployments() -> None:
    found = problems(
        with_grant("role: viewer\nusers: [U012ABCDEF]\ndeployments: [prod, staging]\n")
    )

    assert found == ["grants[0].deployments[1]: unknown deployment 'staging'; configured: prod"]


def test_an_empty_restriction_list_is_refused_as_a_mistake() -> None:
    found = problems(with_grant("role: viewer\nusers: [U012ABCDEF]\nchannels: []\ndags: []\n"))

    assert found == [
        "grants[0].channels: is empty, which allows nothing; remove channels to allow any",
        "grants[0].dags: is empty, which allows nothing; remove dags to allow any",
    ]


def test_dag_patterns_must_be_non_empty_text() -> None:
    found = problems(with_grant("role: viewer\nusers: [U012ABCDEF]\ndags: ['', 7, [etl]]\n"))

    assert found == [
        'grants[0].dags[0]: is empty; write a DAG id or a pattern like "etl_*"',
        "grants[0].dags[1]: must be text, got a number",
        "grants[0].dags[2]: must be text, got a list",
    ]


def test_a_broken_deployment_is_not_reported_again_where_it_is_referred_to() -> None:
    found = problems(
        with_deployment(
            "url: ftp://x\ntoken: ${ASTRO_PROD_TOKEN}\n", "channels:\n  C0123ABCD: prod\n"
        )
    )

    assert found == ["deployments.prod.url: must start with http:// or https://, got 'ftp://x'"]


def test_the_audit_channel_must_be_a_channel_id() -> None:
    assert problems(MINIMAL + "audit_channel: '#audit'\n") == [
        "audit_channel: '#audit' is not a Slack channel ID like C0123ABCD; use the channel ID "
        "(C...), not its name"
    ]


def test_the_audit_channel_may_come_from_the_environment() -> None:
    config = parse(MINIMAL + "audit_channel: ${AUDIT}\n", {**ENV, "AUDIT": "C0AUDIT01"})

    assert config.audit_channel == "C0AUDIT01"


# --- the file as a whole ------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    text = """\
        deployments:
          prod:
            url: ftp://x
            token: plain-text
        roles:
          ops: [trigerr]
        grants:
          - role: ops
            users: ['@alice']
        audit_channel: general
        """
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), {}, source="conf/chatops.yml", verbs=VERB_FACTS)

    assert str(caught.value).splitlines() == [
        "conf/chatops.yml: deployments.prod.url: must start with http:// or https://, got 'ftp://x'",
        "conf/chatops.yml: deployments.prod.token: put the secret in the environment and write "
        "${VAR} here",
        "conf/chatops.yml: roles.ops[0]: unknown verb 'trigerr' (did you mean 'trigger'?)",
        "conf/chatops.yml: grants[0].users[0]: '@alice' is not a Slack user ID like U012ABCDEF; "
        "use the Slack user ID (U...), not a display name",
        "conf/chatops.yml: audit_channel: 'general' is not a Slack channel ID like C0123ABCD; use "
        "the channel ID (C...), not its name",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty; it needs at least a deployments: section"),
        ("# just a comment\n", "the file is empty; it needs at least a deployments: section"),
        (
            "- prod\n",
            "must be a mapping with a deployments: section at the top level, got a list",
        ),
        (
            "just text\n",
            "must be a mapping with a deployments: section at the top level, got text",
        ),
    ],
)
def test_a_file_that_is_not_a_mapping_gets_one_clear_problem(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_yaml_syntax_errors_give_line_and_column() -> None:
    found = problems("deployments:\n  prod:\n    url: a: b\n")

    assert len(found) == 1
    assert found[0].startswith("line 3, column 11: invalid YAML: mapping values are not allowed")


def test_a_tab_indent_gets_the_spaces_hint() -> None:
    found = problems("deployments:\n\tprod: {}\n")

    assert found[0].startswith("line 2, column 1: invalid YAML:")
    assert found[0].endswith("; YAML indents with spaces, not tabs")


def test_a_duplicate_key_is_refused_not_silently_dropped() -> None:
    found = problems(MINIMAL + "  prod:\n    url: http://other\n    token: ${ASTRO_PROD_TOKEN}\n")

    assert found == ["line 5, column 3: invalid YAML: duplicate key 'prod' (first on line 2)"]


def test_yaml_merge_keys_still_work() -> None:
    config = parse(
        """\
        deployments:
          prod: &base
            url: http://prod
            token: ${ASTRO_PROD_TOKEN}
          dev:
            <<: *base
            url: http://dev
        """
    )

    assert config.deployments["dev"].url == "http://dev"
    assert config.deployments["dev"].token == PROD_TOKEN


def test_x_keys_at_the_top_hold_anchors_to_reuse() -> None:
    config = parse(
        """\
        x-airflow: &airflow
          token: ${ASTRO_PROD_TOKEN}
          confirm: true
        deployments:
          prod:
            <<: *airflow
            url: http://prod
        """
    )

    assert config.deployments["prod"].confirm is True


def test_an_impossible_date_is_a_config_error() -> None:
    found = problems(MINIMAL + "audit_channel: 2024-02-30\n")

    assert found == [
        "invalid YAML: day is out of range for month (quote the value if it is meant as text)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 5000, "invalid YAML: nested too deeply"),
        ("audit_channel: !!timestamp x\n", "invalid YAML: 'NoneType' object has no attribute"),
        ("a: !!python/object:os.system x\n", "line 1, column 4: invalid YAML: could not determine"),
    ],
)
def test_yaml_the_parser_chokes_on_is_still_a_config_error(text: str, expected: str) -> None:
    found = problems(text)

    assert len(found) == 1
    assert found[0].startswith(expected)


def test_yaml_errors_do_not_quote_the_file() -> None:
    # PyYAML's own message prints the offending line, which could hold a pasted secret.
    found = problems("deployments:\n  prod:\n    token: hunter2: [\n")

    assert "hunter2" not in "\n".join(found)


def test_a_control_character_is_named_with_its_position() -> None:
    assert problems("deployments:\x07\n") == [
        "position 12: invalid YAML: special characters are not allowed (character 7)"
    ]


def test_a_yaml_error_says_what_was_being_parsed_and_how_to_quote() -> None:
    assert problems("deployments: [a, b\n") == [
        "line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence); quote values that contain ': ' or start with one of "
        "{}[]&*!|>'\"%@`"
    ]
    assert problems("deployments:\n  prod:\n    url: a: b\n")[0].endswith(
        "mapping values are not allowed here; quote values that contain ': ' or start with one "
        "of {}[]&*!|>'\"%@`"
    )


def test_true_is_shown_as_written_in_yaml() -> None:
    found = problems(with_deployment("url: http://x\ntoken: ${ASTRO_PROD_TOKEN}\ntimeout: true\n"))

    assert found == [
        "deployments.prod.timeout: must be a number of seconds above 0 and at most 300, got true"
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("true", "true/false"),
        ("", "nothing"),
        ("5", "a number"),
        ("1.5", "a number"),
        ("[a]", "a list"),
        ("{a: 1}", "a mapping"),
        ("2024-01-01", "a date"),
    ],
)
def test_a_value_of_the_wrong_kind_is_named_by_its_kind(value: str, kind: str) -> None:
    found = problems(
        with_deployment(f"url: http://x\nusername: {value}\npassword: ${{AIRFLOW_DEV_PASSWORD}}\n")
    )

    assert found == [f"deployments.prod.username: must be text, got {kind}"]


@pytest.mark.parametrize("number", [2**64, 10**30])
def test_a_huge_number_is_not_printed_digit_by_digit(number: int) -> None:
    found = problems(
        with_deployment(f"url: http://x\ntoken: ${{ASTRO_PROD_TOKEN}}\ntimeout: {number}\n")
    )

    assert found == [
        "deployments.prod.timeout: must be a number of seconds above 0 and at most 300, "
        "got a very large number"
    ]


@pytest.mark.parametrize(
    ("length", "shown"), [(57, "'v" + "x" * 57 + "'"), (58, "'v" + "x" * 54 + "...'")]
)
def test_a_long_value_is_shortened_in_a_problem(length: int, shown: str) -> None:
    found = problems(
        with_deployment(
            f"url: http://x\ntoken: ${{ASTRO_PROD_TOKEN}}\napi_version: v{'x' * length}\n"
        )
    )

    assert found == [f"deployments.prod.api_version: must be one of auto, v1, v2, got {shown}"]


@pytest.mark.parametrize(("seconds", "ok"), [(604800, True), (604801, False)])
def test_a_confirmation_may_wait_up_to_a_week(seconds: int, ok: bool) -> None:
    text = with_deployment(
        f"url: http://x\ntoken: ${{ASTRO_PROD_TOKEN}}\nconfirm_timeout: {seconds}\n"
    )
    if ok:
        assert parse(text).deployments["prod"].confirm_timeout == seconds
    else:
        assert problems(text) == [
            "deployments.prod.confirm_timeout: must be a number of seconds above 0 and at most "
            "604800, got 604801"
        ]


def test_approvers_or_approver_groups_alone_need_approval() -> None:
    base = Deployment(name="prod", url="http://x", token="t")
    assert not base.needs_approval
    assert dataclasses.replace(base, approvers=frozenset({"U012ABCDEF"})).needs_approval
    assert dataclasses.replace(base, approver_groups=frozenset({"S0123ABCD"})).needs_approval


@pytest.mark.parametrize(
    ("fields", "found"),
    [
        (
            "url: ftp://host/?token=abc\ntoken: ${ASTRO_PROD_TOKEN}\n",
            ["deployments.prod.url: must start with http:// or https://"],
        ),
        (
            "url: http://x:0\ntoken: ${ASTRO_PROD_TOKEN}\n",
            ["deployments.prod.url: is not a valid URL, got 'http://x:0'"],
        ),
        (
            'url: http://x\nusername: ""\npassword: ${AIRFLOW_DEV_PASSWORD}\n',
            ["deployments.prod.username: is empty"],
        ),
        (
            "url: http://x\ntoken: ${ASTRO_PROD_TOKEN}\nusername: admin\n",
            ["deployments.prod: use one way to sign in: token or username/password, not both"],
        ),
    ],
)
def test_each_deployment_mistake_gets_its_own_words(fields: str, found: list[str]) -> None:
    assert problems(with_deployment(fields)) == found


def test_port_1_and_timeouts_under_a_second_are_fine() -> None:
    config = parse(
        with_deployment(
            "url: http://x:1\ntoken: ${ASTRO_PROD_TOKEN}\ntimeout: 0.5\nconfirm_timeout: 0.5\n"
        )
    )

    prod = config.deployments["prod"]
    assert (prod.url, prod.timeout, prod.confirm_timeout) == ("http://x:1", 0.5, 0.5)


@pytest.mark.parametrize(
    ("rest", "found"),
    [
        (
            "channels: {123: prod}\n",
            ["channels.123: must be a Slack channel ID like C0123ABCD, got a number"],
        ),
        # A channel ID is a key: written as is, never filled in from the environment.
        (
            'channels: {"${CH}": prod}\n',
            [
                "channels.'${CH}': '${CH}' is not a Slack channel ID like C0123ABCD; "
                "use the channel ID (C...), not its name"
            ],
        ),
        ('roles: {" ": [list]}\n', ["roles.' ': a role name must be non-empty text, got ' '"]),
        ("roles: {ops: [1]}\n", ["roles.ops[0]: must be text, got a number"]),
        # A key that is not even text is the one problem: its value is not read.
        (
            "channels: {123: nope}\n",
            ["channels.123: must be a Slack channel ID like C0123ABCD, got a number"],
        ),
        ('roles: {" ": [nope]}\n', ["roles.' ': a role name must be non-empty text, got ' '"]),
        (
            "grants: [{role: viewer, users: [u012abcd]}]\n",
            ["grants[0].users[0]: Slack IDs are upper case with no spaces: write U012ABCD"],
        ),
    ],
)
def test_each_section_mistake_gets_its_own_words(rest: str, found: list[str]) -> None:
    assert problems(MINIMAL + rest, {**ENV, "CH": "C0123ABCD"}) == found


# --- load_config --------------------------------------------------------------------------


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(EXAMPLE, encoding="utf-8")

    config = load_config(path, ENV, verbs=VERB_FACTS)

    assert list(config.deployments) == ["prod", "dev"]


def test_a_missing_file_names_the_path_and_chatops_config(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV, verbs=VERB_FACTS)

    message = str(caught.value)
    assert str(path) in message
    assert "CHATOPS_CONFIG" in message
    assert caught.value.problems == [
        f"config file not found (looked for {path}); create it, or set CHATOPS_CONFIG to its path"
    ]


def test_load_config_prefixes_problems_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text("deployments:\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(str(path), ENV, verbs=VERB_FACTS)

    assert str(caught.value).startswith(f"{path}: deployments: at least one deployment")


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "latin1.yml").write_bytes(b"deployments: caf\xe9\n")

    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(tmp_path / "latin1.yml", ENV, verbs=VERB_FACTS)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, ENV, verbs=VERB_FACTS)
    assert caught.value.problems == [
        "cannot read the config file: Is a directory; check CHATOPS_CONFIG"
    ]
    assert caught.value.source == str(tmp_path)  # doctor names the file it could not read


# --- properties ---------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the loader knows, so random structures reach past the top-level checks.
_KEYS = st.sampled_from(
    [
        "deployments", "channels", "roles", "grants", "audit_channel", "prod", "dev", "url",
        "token", "username", "password", "api_version", "confirm", "timeout", "role", "users",
        "usergroups", "dags", "viewer", "operator", "C0123ABCD", "U012ABCDEF", "<<",
    ]
)  # fmt: skip
_STRINGS = st.sampled_from(
    [
        "http://localhost:8080", "https://x.io/", "ftp://x", "${T}", "${UNSET}", "${T:-d}", "$$",
        "${", "prod", "dev", "viewer", "operator", "list", "trigger", "U012ABCDEF", "@alice",
        "S0123ABCD", "C0123ABCD", "etl_*", "v1", "auto", "",
    ]
) | st.text(max_size=12)  # fmt: skip
_SCALARS = (
    _STRINGS
    | st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
)
_HASHABLE_KEYS = _KEYS | _SCALARS.filter(lambda v: not isinstance(v, float))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function: hypothesis 6.17x misreads a lambda holding another lambda as one that
    # ignores its argument, and would then build no nested structures at all.
    return st.lists(children, max_size=4) | st.dictionaries(_HASHABLE_KEYS, children, max_size=5)


_TREES = st.recursive(
    _SCALARS,
    _containers,
    max_leaves=25,
)


def _config_or_config_error(text: str, env: dict[str, str]) -> None:
    try:
        result = parse_config(text, env, verbs=VERB_FACTS)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must say what is wrong"
        assert all(isinstance(problem, str) and problem for problem in exc.problems)
    else:
        assert isinstance(result, Config)


@FAST
@given(text=st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    _config_or_config_error(text, {"T": "t"})


@FAST
@given(tree=_TREES)
def test_any_yaml_structure_gives_a_config_or_a_config_error(tree: Any) -> None:
    _config_or_config_error(yaml.safe_dump(tree), {"T": "t"})


@FAST
@given(
    path=st.lists(
        st.sampled_from(["deployments", "prod", "url", "grants", 0, "users"]), max_size=3
    ),
    junk=_TREES,
)
def test_a_good_config_with_any_part_replaced_gives_a_config_or_a_config_error(
    path: list[Any], junk: Any
) -> None:
    tree: Any = yaml.safe_load(EXAMPLE)
    node: Any = tree
    for step in path[:-1]:
        in_list = isinstance(node, list) and isinstance(step, int) and step < len(node)
        if in_list or (isinstance(node, dict) and step in node):
            node = node[step]
    if path and isinstance(node, dict | list):
        with contextlib.suppress(IndexError, TypeError):
            node[path[-1]] = junk
    else:
        tree = junk
    _config_or_config_error(yaml.safe_dump(tree), ENV)


@FAST
@given(
    secret=st.text(min_size=1, max_size=30).map(lambda s: "s3cr3t" + s),
    url=st.sampled_from(["http://x", "ftp://x", "${T}", "http://${T}", "${T}@x", "${NOPE}"]),
    extra=st.sampled_from(["", "timeout: '${T}'\n", "api_version: ${T}\n", "username: ${T}\n"]),
)
def test_secret_values_never_appear_in_problems_or_reprs(secret: str, url: str, extra: str) -> None:
    text = f"deployments:\n  prod:\n    url: '{url}'\n    token: ${{T}}\n    {extra}"
    try:
        config = parse_config(text, {"T": secret}, verbs=VERB_FACTS)
    except ConfigError as exc:
        assert secret not in str(exc)
    else:
        # The url and username are the user's to show, even if they (oddly) hold the secret.
        prod = dataclasses.replace(config.deployments["prod"], url="http://x", username=None)
        assert secret not in repr(prod)


def test_approvers_mix_users_and_groups_and_confirm_timeout_is_read() -> None:
    config = parse(
        with_deployment(
            """\
            url: http://localhost:8080
            token: ${ASTRO_PROD_TOKEN}
            confirm: true
            confirm_timeout: 120
            approvers: [U012ABCDEF, S0123ABCD]
            """
        )
    )
    prod = config.deployments["prod"]
    assert prod.approvers == {"U012ABCDEF"} and prod.approver_groups == {"S0123ABCD"}
    assert prod.needs_approval and prod.confirm_timeout == 120.0
    assert parse(MINIMAL).deployments["prod"].confirm_timeout == 600.0
    assert not parse(MINIMAL).deployments["prod"].needs_approval


def test_bad_approvers_and_confirm_timeout_are_each_reported() -> None:
    found = problems(
        with_deployment(
            """\
            url: http://localhost
            token: ${ASTRO_PROD_TOKEN}
            confirm_timeout: 0
            approvers: [alice, s0123abcd9]
            """
        )
    )
    assert found == [
        "deployments.prod.confirm_timeout: must be a number of seconds above 0 and at most "
        "604800, got 0",
        "deployments.prod.approvers[0]: 'alice' is not a Slack user ID like U012ABCDEF; use the "
        "Slack user ID (U...), not a display name",
        "deployments.prod.approvers[1]: Slack IDs are upper case with no spaces: write S0123ABCD9",
    ]
    assert problems(
        with_deployment("url: http://h\ntoken: ${ASTRO_PROD_TOKEN}\napprovers: []\n")
    ) == [
        "deployments.prod.approvers: is empty, so nobody could approve; remove it to need no "
        "approval"
    ]
