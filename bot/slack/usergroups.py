"""Who is in a Slack user group, read through the Web API and cached briefly.

Briefly, because a grant given through a group must end soon after someone leaves the group.
A failed read fails closed, whatever failed (Slack's answer, the network, a timeout): the group
grants nothing until Slack answers again, and the asker is told so (bot/core/permissions.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.permissions import GroupLookupFailed

log = logging.getLogger(__name__)
DEFAULT_TTL_S = 120.0


class UserGroups:
    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group_id: str) -> frozenset[str]:
        """The group's members; raises GroupLookupFailed when Slack cannot say."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            resp = self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            log.warning("usergroups.users.list %s failed: %s", group_id, error)
            raise GroupLookupFailed(f"{group_id}: {error}") from None
        except Exception as exc:  # noqa: BLE001 - a connection error, a timeout: fail closed too
            error = type(exc).__name__
            log.warning("usergroups.users.list %s failed on the way: %s", group_id, error)
            raise GroupLookupFailed(f"{group_id}: {error}") from None
        members = frozenset(str(u) for u in resp.get("users") or [])
        with self._lock:
            self._cache[group_id] = (now, members)
        return members

    def forget(self) -> None:
        """Drop what is cached: the next question about any group goes to Slack."""
        with self._lock:
            self._cache.clear()

    def is_member(self, user_id: str, group_id: str) -> bool:
        return user_id in self.members(group_id)
