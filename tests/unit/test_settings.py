"""Process settings: what an operator sets in the environment, and what they read if it is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config.settings import Settings, SettingsError, load_environment, load_settings

BOT_TOKEN = "xoxb-111-222-botsecretvalue"
APP_TOKEN = "xapp-1-A111-222-appsecretvalue"
SIGNING_SECRET = "signing-secret-8e7d6c"
HTTP = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "PORT",
    "CHATOPS_CONFIG",
    "DATABASE_URL",
    "WORKER_THREADS",
    "MAX_PENDING",
)


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return caught.value.problems


# --- good settings ------------------------------------------------------------------------


def test_http_mode_needs_only_the_bot_token_and_signing_secret() -> None:
    assert load_settings(HTTP) == Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=None,
        slack_api_url=None,
        port=3000,
        config_path="chatops.yml",
        database_url="sqlite:///chatops.db",
    )


def test_socket_mode_needs_no_signing_secret() -> None:
    result = load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})

    assert result.slack_app_token == APP_TOKEN
    assert result.slack_signing_secret is None
    assert result.socket_mode


def test_the_signing_secret_may_be_waived_by_the_caller() -> None:
    result = load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN}, require_signing_secret=False)

    assert result.slack_signing_secret is None
    assert not result.socket_mode


def test_every_variable_is_read() -> None:
    result = load_settings(
        {
            **HTTP,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": "http://127.0.0.1:9000/api",
            "PORT": "8080",
            "CHATOPS_CONFIG": "/etc/chatops/prod.yml",
            "DATABASE_URL": "postgresql://bot:pw@db/chatops",
            "WORKER_THREADS": "8",
            "MAX_PENDING": "0",
        }
    )

    assert result.slack_api_url == "http://127.0.0.1:9000/api/"
    assert result.port == 8080
    assert result.config_path == "/etc/chatops/prod.yml"
    assert result.database_url == "postgresql://bot:pw@db/chatops"
    assert (result.worker_threads, result.max_pending) == (8, 0)


def test_herokus_postgres_url_is_rewritten_for_sqlalchemy() -> None:
    result = load_settings({**HTTP, "DATABASE_URL": "postgres://u:p@ec2.aws.com:5432/d1"})

    assert result.database_url == "postgresql://u:p@ec2.aws.com:5432/d1"


def test_a_slack_api_url_keeps_its_trailing_slash() -> None:
    result = load_settings({**HTTP, "SLACK_API_URL": "https://slack-gov.com/api/"})

    assert result.slack_api_url == "https://slack-gov.com/api/"


def test_empty_values_count_as_unset_and_whitespace_is_trimmed() -> None:
    result = load_settings(
        {
            "SLACK_BOT_TOKEN": f"  {BOT_TOKEN}\n",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_APP_TOKEN": "",
            "PORT": "",
            "CHATOPS_CONFIG": " ",
        }
    )

    assert result.slack_bot_token == BOT_TOKEN
    assert result.slack_app_token is None
    assert (result.port, result.config_path) == (3000, "chatops.yml")


# --- problems -----------------------------------------------------------------------------


def test_a_missing_bot_token_says_where_to_find_it() -> None:
    assert problems({"SLACK_SIGNING_SECRET": SIGNING_SECRET}) == [
        "SLACK_BOT_TOKEN: not set; set it to the bot token, xoxb-... "
        "(app settings > OAuth & Permissions > Bot User OAuth Token)"
    ]


def test_swapped_tokens_are_named_by_kind_without_showing_them() -> None:
    found = problems({"SLACK_BOT_TOKEN": APP_TOKEN, "SLACK_APP_TOKEN": BOT_TOKEN})

    assert found == [
        "SLACK_BOT_TOKEN: must be the bot token, starting with xoxb- (app settings > "
        "OAuth & Permissions > Bot User OAuth Token), got a xapp- token",
        "SLACK_APP_TOKEN: must be an app-level token, starting with xapp- (app settings > "
        "Basic Information > App-Level Tokens, with connections:write), or unset it to serve "
        "HTTP, got a xoxb- token",
        # The app token was refused, so this is not Socket Mode: HTTP needs signing.
        "SLACK_SIGNING_SECRET: not set; the HTTP endpoint needs it to check that requests come "
        "from Slack (app settings > Basic Information > Signing Secret), or set SLACK_APP_TOKEN "
        "to use Socket Mode instead",
    ]
    assert "secretvalue" not in "\n".join(found)


def test_a_token_that_is_no_slack_token_is_not_shown() -> None:
    found = problems({**HTTP, "SLACK_BOT_TOKEN": "hunter2-not-a-token"})

    assert found == [
        "SLACK_BOT_TOKEN: must be the bot token, starting with xoxb- "
        "(app settings > OAuth & Permissions > Bot User OAuth Token)"
    ]


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1", "80.5", "+80", "٣٠٠٠", "1" * 5000])
def test_port_must_be_a_port_number(port: str) -> None:
    found = problems({**HTTP, "PORT": port})

    assert len(found) == 1
    assert found[0].startswith("PORT: must be a whole number from 1 to 65535, got '")


def test_worker_limits_must_be_whole_numbers() -> None:
    assert problems({**HTTP, "WORKER_THREADS": "0", "MAX_PENDING": "lots"}) == [
        "WORKER_THREADS: must be a whole number from 1 to 1000, got '0'",
        "MAX_PENDING: must be a whole number from 0 to 100000, got 'lots'",
    ]


def test_the_audit_trail_is_kept_unless_a_retention_is_set() -> None:
    assert load_settings(HTTP).audit_retention_days is None
    assert load_settings({**HTTP, "AUDIT_RETENTION_DAYS": "400"}).audit_retention_days == 400
    assert problems({**HTTP, "AUDIT_RETENTION_DAYS": "0"}) == [
        "AUDIT_RETENTION_DAYS: must be a whole number from 1 to 36600, got '0'"
    ]


@pytest.mark.parametrize("url", ["slack.com/api", "ftp://slack.com/api", "https://", "http://[::"])
def test_slack_api_url_must_be_http(url: str) -> None:
    assert problems({**HTTP, "SLACK_API_URL": url}) == [
        "SLACK_API_URL: must be an http:// or https:// URL like https://slack.com/api/, "
        "or unset for Slack's own"
    ]


def test_a_database_url_that_is_no_url_is_refused_without_showing_it() -> None:
    found = problems({**HTTP, "DATABASE_URL": "bot:hunter2@db/chatops"})

    assert found == [
        "DATABASE_URL: must be a database URL like postgresql://user:password@host/db or "
        "sqlite:///chatops.db, or unset for a local SQLite file"
    ]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"PORT": "http", "SLACK_API_URL": "nope"})

    assert [line.split(":")[0] for line in str(caught.value).splitlines()] == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_API_URL",
        "PORT",
    ]


def test_repr_hides_tokens_and_the_database_password() -> None:
    result = load_settings(
        {**HTTP, "SLACK_APP_TOKEN": APP_TOKEN, "DATABASE_URL": "postgres://bot:dbpass99@db/x"}
    )

    text = repr(result)
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, "dbpass99"):
        assert secret not in text
    assert "slack_bot_token='***'" in text
    assert "database_url='postgresql://bot:***@db/x'" in text


# --- .env ---------------------------------------------------------------------------------


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Slack variables in the real environment, and the working directory is empty."""
    for name in SLACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_dotenv_in_the_working_directory_is_read(clean_environ: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\nPORT=4000\n",
        encoding="utf-8",
    )

    result = load_settings()

    assert (result.slack_bot_token, result.port) == (BOT_TOKEN, 4000)
    assert "SLACK_BOT_TOKEN" not in os.environ  # read, not exported


def test_real_environment_variables_win_over_dotenv(clean_environ: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\nPORT=4000\n", encoding="utf-8")
    clean_environ.setenv("PORT", "5000")
    clean_environ.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)

    assert load_settings().port == 5000


def test_no_dotenv_file_is_fine(clean_environ: pytest.MonkeyPatch) -> None:
    clean_environ.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    clean_environ.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)

    assert load_settings().slack_bot_token == BOT_TOKEN


def test_dotenv_can_be_skipped_or_moved(clean_environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Path(".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\n", encoding="utf-8")
    (tmp_path / "other.env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\n", encoding="utf-8")

    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN: not set"):
        load_settings(dotenv_path=None, require_signing_secret=False)
    other = load_settings(dotenv_path=str(tmp_path / "other.env"), require_signing_secret=False)
    assert other.slack_bot_token == BOT_TOKEN


def test_load_environment_gives_dotenv_variables_to_the_config_too(
    clean_environ: pytest.MonkeyPatch,
) -> None:
    # The config's ${ASTRO_PROD_TOKEN} may live in .env: the merged mapping carries it.
    Path(".env").write_text("ASTRO_PROD_TOKEN=from-dotenv\nPORT=4000\n", encoding="utf-8")
    clean_environ.setenv("PORT", "5000")

    env = load_environment()

    assert env["ASTRO_PROD_TOKEN"] == "from-dotenv"
    assert env["PORT"] == "5000"
    assert "ASTRO_PROD_TOKEN" not in os.environ


# --- properties ---------------------------------------------------------------------------

_VALUES = st.sampled_from(["", " ", "xoxb-1", "xapp-1", "0", "3000", "http://x", "postgres://a"])
_ENVS = st.dictionaries(
    st.sampled_from(SLACK_VARIABLES), _VALUES | st.text(max_size=20), max_size=len(SLACK_VARIABLES)
)


@settings(max_examples=200, deadline=None)
@given(env=_ENVS, require_signing_secret=st.booleans())
def test_any_environment_gives_settings_or_a_settings_error(
    env: dict[str, str], require_signing_secret: bool
) -> None:
    try:
        result = load_settings(env, require_signing_secret=require_signing_secret)
    except SettingsError as exc:
        assert exc.problems
    else:
        assert result.slack_bot_token.startswith("xoxb-")
        assert 1 <= result.port <= 65535
        assert result.slack_api_url is None or result.slack_api_url.endswith("/")


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(min_size=1, max_size=20).map(lambda s: "s3cr3t" + s),
    prefix=st.sampled_from(["", "xoxb-", "xapp-", "xoxp-"]),
    port=st.sampled_from(["", "x", "80"]),
)
def test_secret_values_never_appear_in_problems_or_reprs(
    secret: str, prefix: str, port: str
) -> None:
    token = prefix + secret
    env = {"SLACK_BOT_TOKEN": token, "SLACK_APP_TOKEN": token, "SLACK_SIGNING_SECRET": token}
    env["PORT"] = port
    try:
        result = load_settings(env)
    except SettingsError as exc:
        assert secret.strip() not in str(exc)
    else:
        assert secret.strip() not in repr(result)
