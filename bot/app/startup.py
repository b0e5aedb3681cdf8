"""From the environment to a running bot: settings, config, logging, the store's schema, the
app. Fails loudly, with every problem listed, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping

from bot.app.wiring import Bot, create_bot
from bot.config import Config, ConfigError, load_config
from bot.config.settings import (
    DEFAULT_CONFIG_PATH,
    Settings,
    SettingsError,
    load_environment,
    load_settings,
)
from bot.serve.logs import configure_logging
from bot.slack.identity import TokenRefused, token_refused_message
from bot.store import Store, StoreError, shown_url, url_password
from commands import REGISTRY


class StartupError(Exception):
    exit_code = 2


def load_all(env: Mapping[str, str] | None = None) -> tuple[Settings, Config]:
    """Settings and config, with every problem of both listed before giving up."""
    env = dict(env) if env is not None else load_environment()
    problems: list[str] = []
    settings = config = None
    try:
        settings = load_settings(env)
    except SettingsError as exc:
        problems.append(str(exc))
    # The config is checked even when settings failed, so one start lists every problem.
    config_path = settings.config_path if settings else env.get("CHATOPS_CONFIG", "").strip()
    try:
        config = load_config(config_path or DEFAULT_CONFIG_PATH, env, verbs=REGISTRY.facts())
    except ConfigError as exc:
        problems.append(str(exc))
    if settings is None or config is None:
        raise StartupError("The bot cannot start:\n" + "\n".join(problems))
    return settings, config


def secrets_of(settings: Settings, config: Config) -> list[str]:
    values = [settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token]
    values.append(url_password(settings.database_url))
    for dep in config.deployments.values():
        values += dep.secrets
    return [v for v in values if v]


def migrate_store(database_url: str) -> None:
    """Create or upgrade the store's schema, on a connection used for nothing else.

    Its own short-lived Store, so no database connection made here is inherited by the
    processes gunicorn forks after start-up.
    """
    shown = shown_url(database_url)
    store = Store(database_url)
    try:
        store.migrate()
    except StoreError as exc:
        raise StartupError(
            f"The bot cannot start: the state store {shown} failed: {exc.kind}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}. Check DATABASE_URL."
        ) from None
    finally:
        store.close()


def build_bot(env: Mapping[str, str] | None = None, *, processes: int = 1) -> Bot:
    settings, config = load_all(env)
    configure_logging(secrets_of(settings, config))
    migrate_store(settings.database_url)
    try:
        return create_bot(settings, config, processes=processes)
    except TokenRefused as refused:
        # Only a token Slack refuses stops the start; Slack not answering does not
        # (bot/slack/identity.py). Say which setting is wrong.
        raise StartupError(token_refused_message(str(refused))) from None
