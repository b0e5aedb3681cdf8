"""Does ``manifest.yml`` declare what the code handles? For ``python -m bot doctor``.

What the code handles is what the bot registers (``Bot.routes``, bot/slack/routes.py) when it
is built against a local Slack, so a new command, button or modal in the code is checked
against the manifest without anyone keeping a list in sync. The scopes are those of the Web
API methods the bot calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config
from bot.config.settings import Settings
from bot.core.workers import Workers
from bot.serve.wsgi import EVENTS_PATH
from bot.store import Store
from bot.tools.localslack import SlackStandin
from commands import REGISTRY

log = logging.getLogger(__name__)

# The bot scopes the code needs, and why: the Web API methods it calls.
NEEDED_SCOPES: dict[str, str] = {
    "commands": "the /airflow command",
    "chat:write": "chat.postMessage, chat.update and chat.postEphemeral: the threads",
    "usergroups:read": "usergroups.users.list: grants to Slack user groups",
    "channels:history": "conversations.history/replies: whether a post whose answer was lost "
    "arrived, before posting it again (public channels)",
    "groups:history": "the same in private channels",
}


@dataclass(frozen=True)
class Handled:
    """What the Bolt app has listeners for."""

    commands: frozenset[str] = frozenset()
    interactive: tuple[str, ...] = ()  # e.g. "action page", "view trigger_form"
    events: frozenset[str] = frozenset()


@dataclass
class ManifestFindings:
    problems: list[str] = field(default_factory=list)  # "path: what is wrong"
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong
    summary: str = ""


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest as a mapping; raises ValueError saying what is wrong with the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ValueError("not a Slack app manifest (expected a mapping at the top)")
    return data


def bot_scopes(manifest: dict[str, Any]) -> list[str]:
    scopes = _get(manifest, "oauth_config", "scopes", "bot")
    return [str(s) for s in scopes] if isinstance(scopes, list) else []


def handled_by_code() -> Handled:
    """Build the app as ``create_bot`` does (on a local Slack, empty config) and read it."""
    from bot.app import create_bot  # late: the composition root imports most of the bot

    with SlackStandin(socket_ping_interval=None) as slack:
        settings = Settings(
            slack_bot_token=slack.bot_token,
            slack_signing_secret="manifest-check",  # noqa: S106 - never used to sign anything
            slack_api_url=slack.api_url,
            database_url="sqlite://",
        )
        config = Config(deployments={}, channels={}, roles=REGISTRY.builtin_roles(), grants=())
        bot = create_bot(
            settings,
            config,
            clients={},
            store=Store("sqlite://"),
            workers=Workers(threads=1, max_pending=0),
        )
        try:
            routes = bot.routes
            assert routes is not None  # create_bot always records them
            return Handled(
                frozenset(routes.commands), tuple(routes.interactive), frozenset(routes.events)
            )
        finally:
            bot.close(wait=False)


def check_manifest(manifest: dict[str, Any], handled: Handled) -> ManifestFindings:
    found = ManifestFindings()
    socket_mode = _get(manifest, "settings", "socket_mode_enabled") is True
    declared = _get(manifest, "features", "slash_commands")
    declared = [c for c in declared if isinstance(c, dict)] if isinstance(declared, list) else []
    names = {str(c.get("command")): c for c in declared}
    for command in sorted(handled.commands):
        entry = names.get(command)
        if entry is None:
            found.problems.append(
                f"features.slash_commands: no {command}, which the bot handles; add it"
            )
        elif not socket_mode:
            _check_url(found, f"features.slash_commands ({command}).url", entry.get("url"))
    for command in sorted(set(names) - handled.commands):
        found.notes.append(f"features.slash_commands: {command} is declared but not handled")

    interactivity = _get(manifest, "settings", "interactivity")
    enabled = isinstance(interactivity, dict) and interactivity.get("is_enabled") is True
    if handled.interactive and not enabled:
        some = ", ".join(handled.interactive[:3]) + (
            ", ..." if len(handled.interactive) > 3 else ""
        )
        found.problems.append(
            "settings.interactivity.is_enabled: must be true; the bot has buttons and forms "
            f"({some})"
        )
    elif enabled and not socket_mode:
        assert isinstance(interactivity, dict)
        _check_url(found, "settings.interactivity.request_url", interactivity.get("request_url"))

    if handled.events:
        subscribed = _get(manifest, "settings", "event_subscriptions", "bot_events")
        subscribed = set(subscribed) if isinstance(subscribed, list) else set()
        for event in sorted(handled.events - subscribed):
            found.problems.append(
                f"settings.event_subscriptions.bot_events: no {event}, which the bot handles"
            )

    scopes = set(bot_scopes(manifest))
    needed = {s: why for s, why in NEEDED_SCOPES.items() if s != "commands" or handled.commands}
    for scope, why in needed.items():
        if scope not in scopes:
            found.problems.append(f"oauth_config.scopes.bot: no {scope}, needed for {why}")
    extra = sorted(scopes - set(needed))
    if extra:
        found.notes.append(
            f"oauth_config.scopes.bot: {', '.join(extra)} not needed by the bot (least privilege)"
        )
    parts = [", ".join(sorted(handled.commands)) or "no commands"]
    if handled.interactive:
        parts.append("interactivity")
    found.summary = (
        f"declares {' and '.join(parts)}, and the scopes the bot uses ({', '.join(sorted(needed))})"
    )
    return found


def _check_url(found: ManifestFindings, path: str, url: object) -> None:
    # YOUR-HOST stays in the repository's copy; only the path is the code's business.
    if not isinstance(url, str) or not url.rstrip("/").endswith(EVENTS_PATH):
        found.problems.append(
            f"{path}: must end with {EVENTS_PATH}, where the bot listens (got {url!r})"
        )


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
