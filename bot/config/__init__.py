"""The YAML config: which Airflow deployments exist, and who may do what on them.

`load_config` and `parse_config` (in `loader`) give a `Config` (in `model`) or one `ConfigError`
listing every problem; the checks are in `checker`, `checks`, `deployments`, `grants` and
`slack_ids`, the verb facts in `roles`, and process settings from the environment in `settings`.
This module re-exports the public names, so `from bot.config import Config` works as before.
"""

from __future__ import annotations

from bot.config.deployments import MAX_CONFIRM_TIMEOUT, MAX_TIMEOUT
from bot.config.loader import ConfigError, load_config, parse_config
from bot.config.model import (
    API_VERSIONS,
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT,
    Config,
    Deployment,
    Grant,
    Subscription,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_CONFIRM_TIMEOUT",
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_CONFIRM_TIMEOUT",
    "MAX_TIMEOUT",
    "Config",
    "ConfigError",
    "Deployment",
    "Grant",
    "Subscription",
    "load_config",
    "parse_config",
]
