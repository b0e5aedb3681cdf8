"""Serving only the workspace (or Enterprise Grid org) the bot token belongs to.

An app's signing secret is the same for every workspace it is installed in, so a request
signed correctly may still come from another installation of the app (one installed elsewhere
with the same credentials, or a distributed app). The bot's config, grants and audit trail are
about one workspace: requests from any other are refused, over HTTP and Socket Mode alike.

Who "we" are comes from ``auth.test`` on the bot token: ``team_id``, ``enterprise_id`` (in a
Grid org), ``is_enterprise_install`` (an org-wide install serves every workspace of the org,
each request naming its own ``team_id``) and, where Slack includes it, ``app_id``.
Who a request is for is what Bolt reads out of it: ``team_id`` (slash commands) or ``team.id``,
``user.team_id``, ``view.app_installed_team_id`` (interactivity), ``enterprise_id`` or
``enterprise.id``; and the ``api_app_id`` every slash command and interactivity payload carries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)
# What the user sees (slash commands show a 200's text to the one who typed it).
NOT_OURS = "This Airflow bot does not serve your workspace."


class _Fields(Protocol):
    """A dict, or slack_sdk's SlackResponse."""

    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class AppIdentity:
    team_id: str | None
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    app_id: str | None = None  # auth.test includes it only sometimes: checked where known

    @classmethod
    def from_auth_test(cls, response: _Fields) -> AppIdentity:
        def text(key: str) -> str | None:
            value = response.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            team_id=text("team_id"),
            enterprise_id=text("enterprise_id"),
            is_enterprise_install=response.get("is_enterprise_install") is True,
            app_id=text("app_id"),
        )

    def refusal(
        self, *, team_id: str | None, enterprise_id: str | None, api_app_id: str | None
    ) -> str | None:
        """Why a request naming these ids is not for this app, or None when it is."""
        if self.app_id and api_app_id and api_app_id != self.app_id:
            return "another app"
        if self.is_enterprise_install:
            # An org-wide install: any workspace of the org, none outside it.
            if not self.enterprise_id or enterprise_id != self.enterprise_id:
                return "another Enterprise Grid org"
            return None
        if self.enterprise_id and enterprise_id and enterprise_id != self.enterprise_id:
            return "another Enterprise Grid org"
        if not self.team_id or team_id != self.team_id:
            return "another workspace"
        return None


def workspace_guard(
    identity: AppIdentity | Callable[[], AppIdentity | None],
) -> Callable[..., BoltResponse]:
    """Bolt middleware (a plain function: Bolt passes arguments by their names).

    ``identity`` may be a function, asked on each request: the identity can be learnt after
    start-up (bot/slack/identity.py), and none known refuses every request."""
    current = identity if callable(identity) else lambda: identity

    def guard(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        context = req.context
        body = req.body if isinstance(req.body, dict) else {}
        api_app_id = body.get("api_app_id")
        ours = current()
        why = (
            "a workspace not known yet"
            if ours is None
            else ours.refusal(
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
                api_app_id=api_app_id if isinstance(api_app_id, str) else None,
            )
        )
        if why is None:
            return next()
        # Ids are not secrets, and they say which installation is sending its requests here.
        log.warning(
            "refused a %s request from %s: team %s, enterprise %s, app %s, user %s",
            req.mode,
            why,
            context.team_id,
            context.enterprise_id,
            api_app_id,
            context.user_id,
        )
        return BoltResponse(status=200, body=NOT_OURS)

    return guard
