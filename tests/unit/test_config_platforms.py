"""The managed platforms' keys in the config: OAuth2 client credentials (Astro Deployment API
keys), ``auth: google`` (Cloud Composer), ``auth: mwaa`` (Amazon MWAA); each mistake by its path,
and a missing extra named at start-up."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from bot.app import StartupError, load_all
from bot.config import Config, ConfigError, parse_config
from bot.config.model import ASTRO_TOKEN_URL, ClientCredentials, MwaaEnvironment
from commands import REGISTRY

VERB_FACTS = REGISTRY.facts()
SECRET = "astro-key-secret-5f3a9c0d"
ENV = {"ASTRO_KEY_ID": "key-id-123", "ASTRO_KEY_SECRET": SECRET, "T": "a-token-value-123"}

# The three examples of INTERFACE.md, as a user would copy them.
EXAMPLE = """\
deployments:
  legacy:                                 # an Astro Deployment API key (deprecated by Astronomer):
    url: https://mycompany.astronomer.run/abcdefg1   # exchanged for a token, renewed before expiry
    client_id: ${ASTRO_KEY_ID}
    client_secret: ${ASTRO_KEY_SECRET}
    token_url: https://auth.astronomer.io/oauth/token   # default; any OAuth2 client-credentials URL
    audience: astronomer-ee               # default with the default token_url
  composer:                               # Google Cloud Composer
    url: https://example-dot-europe-west1.composer.googleusercontent.com
    auth: google                          # Application Default Credentials
  mwaa:                                   # Amazon MWAA: no url; credentials as boto3 finds them
    auth: mwaa
    environment: my-mwaa-environment
    region: eu-west-1
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), ENV, verbs=VERB_FACTS)


def problems(body: str) -> list[str]:
    text = "deployments:\n  prod:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


def test_the_interface_examples_parse() -> None:
    deps = parse(EXAMPLE).deployments
    assert deps["legacy"].auth == "oauth2"
    assert deps["legacy"].client_credentials == ClientCredentials(
        client_id="key-id-123",
        client_secret=SECRET,
        token_url=ASTRO_TOKEN_URL,
        audience="astronomer-ee",
    )
    assert deps["composer"].auth == "google" and deps["composer"].google
    assert deps["mwaa"].auth == "mwaa"
    assert deps["mwaa"].mwaa == MwaaEnvironment("my-mwaa-environment", "eu-west-1", "login")
    assert deps["mwaa"].url == ""
    assert deps["mwaa"].where == "MWAA my-mwaa-environment in eu-west-1"
    assert deps["composer"].where == deps["composer"].url
    assert deps["legacy"].secrets == (SECRET,)
    assert SECRET not in repr(deps["legacy"])
    assert "client_secret=***" in repr(deps["legacy"])


def test_astronomers_url_and_audience_are_the_defaults() -> None:
    dep = parse(
        """\
        deployments:
          legacy:
            url: https://x.astronomer.run/abc
            client_id: ${ASTRO_KEY_ID}
            client_secret: ${ASTRO_KEY_SECRET}
        """
    ).deployments["legacy"]
    assert dep.client_credentials is not None
    assert dep.client_credentials.token_url == "https://auth.astronomer.io/oauth/token"
    assert dep.client_credentials.audience == "astronomer-ee"


def test_another_token_url_has_no_audience_unless_given_and_scopes_as_text_or_list() -> None:
    text = """\
        deployments:
          a:
            url: https://airflow.example.com
            client_id: plain-client-id
            client_secret: ${ASTRO_KEY_SECRET}
            token_url: https://login.example.com/oauth2/token
            scope: [airflow.read, airflow.write]
          b:
            url: https://airflow.example.com
            client_id: plain-client-id
            client_secret: ${ASTRO_KEY_SECRET}
            token_url: http://127.0.0.1:8081/token
            audience: airflow
            scope: "  api   read "
        """
    deps = parse(text).deployments
    a, b = deps["a"].client_credentials, deps["b"].client_credentials
    assert a is not None and b is not None
    assert (a.audience, a.scope) == (None, "airflow.read airflow.write")
    assert (b.audience, b.scope, b.token_url) == (
        "airflow",
        "api read",
        "http://127.0.0.1:8081/token",
    )


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (
            "url: https://x\nclient_id: abc\nclient_secret: literal-secret\n",
            [
                "deployments.prod.client_secret: put the secret in the environment and write "
                "${VAR} here"
            ],
        ),
        (
            "url: https://x\nclient_id: abc\n",
            ["deployments.prod: client_id needs a client_secret: ${VAR} too"],
        ),
        (
            "url: https://x\nclient_secret: ${ASTRO_KEY_SECRET}\n",
            ["deployments.prod.client_id: required: the client's ID, like ${VAR} or plain text"],
        ),
        (
            "url: https://x\nclient_id: ' '\nclient_secret: ${ASTRO_KEY_SECRET}\n",
            ["deployments.prod.client_id: is empty"],
        ),
        (
            "url: https://x\nclient_id: a\nclient_secret: ${ASTRO_KEY_SECRET}\n"
            "token_url: http://auth.example.com/token\n",
            [
                "deployments.prod.token_url: must start with https://: the client secret is "
                "sent to it"
            ],
        ),
        (
            "url: https://x\nclient_id: a\nclient_secret: ${ASTRO_KEY_SECRET}\ntoken_url: auth\n",
            [
                "deployments.prod.token_url: must be the token endpoint's URL, like "
                "https://auth.example.com/token"
            ],
        ),
        (
            "url: https://x\nclient_id: a\nclient_secret: ${ASTRO_KEY_SECRET}\nscope: [a b]\n",
            [
                "deployments.prod.scope: must be a list of scope names without spaces, like "
                "[read, write]"
            ],
        ),
        (
            "url: https://x\nclient_id: a\nclient_secret: ${ASTRO_KEY_SECRET}\nscope: ''\n",
            [
                "deployments.prod.scope: is empty: leave scope out to ask for the client's "
                "default scopes"
            ],
        ),
        (
            "url: https://x\ntoken: ${T}\nclient_id: a\nclient_secret: ${ASTRO_KEY_SECRET}\n",
            [
                "deployments.prod: use one way to sign in: token or client_id/client_secret, "
                "not both"
            ],
        ),
        (
            "url: https://x\nauth: google\ntoken: ${T}\nusername: u\npassword: ${T}\n",
            [
                "deployments.prod: use one way to sign in: token, username/password or "
                "auth: google, not several"
            ],
        ),
        (
            "url: https://x\nauth: gogle\n",
            [
                "deployments.prod.auth: must be google or mwaa, got 'gogle' (did you mean "
                "'google'?); a token, a username and password, or a client_id and client_secret "
                "need no auth key"
            ],
        ),
        ("url: https://x\nauth: [google]\n", ["deployments.prod.auth: must be text, got a list"]),
    ],
)
def test_each_client_credentials_and_auth_mistake_gets_its_own_words(
    body: str, found: list[str]
) -> None:
    assert problems(body) == found


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (
            "auth: mwaa\nurl: https://x.airflow.amazonaws.com\nenvironment: env\n"
            "region: eu-west-1\n",
            [
                "deployments.prod.url: is not used with auth: mwaa: the bot asks AWS for the "
                "environment's web server; remove it"
            ],
        ),
        (
            "auth: mwaa\n",
            [
                "deployments.prod.environment: required: the MWAA name, like ${VAR} or plain text",
                "deployments.prod.region: required: the AWS region, like ${VAR} or plain text",
            ],
        ),
        (
            "auth: mwaa\nenvironment: arn:aws:airflow:eu-west-1:1:environment/x\n"
            "region: Ireland\nmwaa_mode: rest\n",
            [
                "deployments.prod.environment: is not an MWAA environment name, got "
                "'arn:aws:airflow:eu-west-1:1:environment/x': a letter, then up to 79 letters, "
                "digits, '-' or '_' (the name, not the ARN or the web server's address)",
                "deployments.prod.region: is not an AWS region, got 'Ireland': like eu-west-1",
                "deployments.prod.mwaa_mode: must be login (a web login token, the whole REST "
                "API) or invoke (InvokeRestApi: 10 s and 6 MB an answer), got 'rest'",
            ],
        ),
        (
            "url: https://x\ntoken: ${T}\nenvironment: env\nregion: eu-west-1\n",
            [
                "deployments.prod.environment: is for Amazon MWAA only: add auth: mwaa",
                "deployments.prod.region: is for Amazon MWAA only: add auth: mwaa",
            ],
        ),
    ],
)
def test_each_mwaa_mistake_gets_its_own_words(body: str, found: list[str]) -> None:
    assert problems(body) == found


def test_mwaa_takes_invoke_and_a_forced_api_version() -> None:
    dep = parse(
        """\
        deployments:
          m:
            auth: mwaa
            environment: Prod_Env-2
            region: us-gov-west-1
            mwaa_mode: invoke
            api_version: v1
        """
    ).deployments["m"]
    assert dep.mwaa == MwaaEnvironment("Prod_Env-2", "us-gov-west-1", "invoke")
    assert dep.api_version == "v1"


@pytest.mark.parametrize(("auth", "module", "extra"), [("google", "google.auth", "google"),
                                                       ("mwaa", "boto3", "aws")])  # fmt: skip
def test_a_missing_extra_stops_the_bot_at_start_up_naming_it(
    auth: str,
    module: str,
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    body = "environment: env\n    region: eu-west-1" if auth == "mwaa" else "url: https://x"
    (tmp_path / "chatops.yml").write_text(f"deployments:\n  p:\n    auth: {auth}\n    {body}\n")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s" * 20,
        "CHATOPS_CONFIG": str(tmp_path / "chatops.yml"),
    }
    with pytest.raises(StartupError) as caught:
        load_all(env)
    assert f"deployments.p.auth: auth: {auth} needs " in str(caught.value)
    assert (
        f'install the bot with the {extra} extra, pip install -c constraints.txt ".[{extra}]"'
        in (str(caught.value))
    )
    assert f"write .[{extra}] in place of the . line of requirements.txt" in str(caught.value)


def test_no_secret_is_shown_whatever_else_is_wrong() -> None:
    found = problems(
        f"url: https://x/?{SECRET}\nclient_id: {SECRET}\nclient_secret: ${{ASTRO_KEY_SECRET}}\n"
        "token: ${ASTRO_KEY_SECRET}\n"
    )
    assert found and all(SECRET not in problem for problem in found)
