"""The YAML config: which Airflow deployments exist, and who may do what on them.

`load_config` and `parse_config` (in `loader`) give a `Config` (in `model`) or one `ConfigError`
listing every problem; the checks are in `checker`, `checks`, `deployments`, `grants` and
`slack_ids`. The verbs are not known here: the caller hands in their facts (`VerbFacts`, from
the registry). Process settings from the environment are in `settings`.
"""

from __future__ import annotations

from bot.config.deployments import MAX_CONFIRM_TIMEOUT, MAX_TIMEOUT
from bot.config.loader import ConfigError, load_config, parse_config
from bot.config.model import (
    API_VERSIONS,
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT,
    MIN_LONG_AFTER,
    Config,
    Deadline,
    Deployment,
    Grant,
    Subscription,
    VerbFacts,
    WatchOptions,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_CONFIRM_TIMEOUT",
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_CONFIRM_TIMEOUT",
    "MAX_TIMEOUT",
    "MIN_LONG_AFTER",
    "Config",
    "ConfigError",
    "Deadline",
    "Deployment",
    "Grant",
    "Subscription",
    "VerbFacts",
    "WatchOptions",
    "load_config",
    "parse_config",
]
