"""Registering listeners on the Bolt app, and keeping a public record of what was registered.

Bolt keeps its listeners to itself; ``python -m bot doctor`` compares what the code handles
with what ``manifest.yml`` declares (bot/tools/manifest_check.py), so each listener module
registers through ``Routes``, which remembers each command, action, view and event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App

Listener = Callable[..., Any]


@dataclass
class Routes:
    app: App
    commands: set[str] = field(default_factory=set)
    interactive: list[str] = field(default_factory=list)  # "action page", "view trigger_form"
    events: set[str] = field(default_factory=set)

    def command(self, name: str, listener: Listener) -> None:
        self.commands.add(name)
        self.app.command(name)(listener)

    def action(self, action_id: str, listener: Listener) -> None:
        self.interactive.append(f"action {action_id}")
        self.app.action(action_id)(listener)

    def view(self, callback_id: str, listener: Listener) -> None:
        self.interactive.append(f"view {callback_id}")
        self.app.view(callback_id)(listener)

    def event(self, event_type: str, listener: Listener) -> None:
        self.events.add(event_type)
        self.app.event(event_type)(listener)
