"""Who may do what, where: the config's roles and grants, deny by default.

A grant matches a user by Slack user ID or user-group membership and gives its role's verbs,
optionally only in some channels, on some deployments, for DAG ids matching some globs.
Nothing is allowed that no grant allows. A denial says which permission was missing.

``Permissions.access_for`` does the one slow part (user-group lookups, cached); the ``Access``
it returns is plain data, so commands ask it questions without any I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

from bot.config import Config, Grant
from bot.core.reply import code


class GroupLookupFailed(Exception):
    """Whether the user is in the group could not be read: the grant gives nothing for now.
    Its message names the group and what failed, for the log."""


class Groups(Protocol):
    """User-group membership (bot/slack/usergroups.py reads Slack's)."""

    def is_member(self, user_id: str, group_id: str) -> bool:
        """Raises GroupLookupFailed when it cannot tell."""
        ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # for a denial: what was missing, in words the asker can act on


ALLOW = Decision(allowed=True)


@dataclass(frozen=True)
class Scope:
    """What one grant that names the user lets them do."""

    role: str
    verbs: frozenset[str]
    channels: frozenset[str] | None
    deployments: frozenset[str] | None
    dags: tuple[str, ...] | None
    via: str  # "you", or the user group ("<!subteam^S123>") that gave it

    def covers(self, verb: str, deployment: str | None, channel_id: str) -> bool:
        return (
            verb in self.verbs
            and (self.deployments is None or deployment in self.deployments)
            and (self.channels is None or channel_id in self.channels)
        )


@dataclass(frozen=True)
class Access:
    """Everything one user may do; answers questions without I/O."""

    user_id: str
    scopes: tuple[Scope, ...]
    unchecked_groups: tuple[str, ...] = ()  # groups Slack could not list just now
    open_verbs: frozenset[str] = frozenset()  # anyone may use these (help, whoami, ...)

    def check(
        self,
        *,
        channel_id: str,
        verb: str,
        deployment: str | None = None,
        dag_id: str | None = None,
    ) -> Decision:
        if verb in self.open_verbs:
            return ALLOW
        return _decide(self, channel_id, verb, deployment, dag_id)

    def verbs_here(self, channel_id: str) -> frozenset[str]:
        """Verbs usable in this channel on at least one deployment (what help shows)."""
        verbs: set[str] = set(self.open_verbs)
        for scope in self.scopes:
            if scope.channels is None or channel_id in scope.channels:
                verbs |= scope.verbs
        return frozenset(verbs)

    def dag_globs(self, *, channel_id: str, verb: str, deployment: str) -> tuple[str, ...] | None:
        """Globs of the DAGs the user may ``verb`` there; None means every DAG."""
        globs: list[str] = []
        for scope in self.scopes:
            if scope.covers(verb, deployment, channel_id):
                if scope.dags is None:
                    return None
                globs += scope.dags
        return tuple(dict.fromkeys(globs))


class Permissions:
    def __init__(self, config: Config, groups: Groups, *, open_verbs: frozenset[str]) -> None:
        self._config = config
        self._groups = groups
        self._open = open_verbs

    def access_for(self, user_id: str) -> Access:
        scopes: list[Scope] = []
        unchecked: list[str] = []
        for grant in self._config.grants:
            via = self._names(grant, user_id, unchecked)
            if via is not None:
                scopes.append(
                    Scope(
                        role=grant.role,
                        verbs=self._config.roles.get(grant.role, frozenset()),
                        channels=grant.channels,
                        deployments=grant.deployments,
                        dags=grant.dags,
                        via=via,
                    )
                )
        return Access(user_id, tuple(scopes), tuple(dict.fromkeys(unchecked)), self._open)

    def _names(self, grant: Grant, user_id: str, unchecked: list[str]) -> str | None:
        if user_id in grant.users:
            return "you"  # checked first: no Slack call when the user is named outright
        for group in sorted(grant.usergroups):
            try:
                if self._groups.is_member(user_id, group):
                    return f"<!subteam^{group}>"
            except GroupLookupFailed:
                unchecked.append(group)  # fail closed: this grant gives nothing for now
        return None


def dag_allowed(dag_id: str, globs: Sequence[str] | None) -> bool:
    return globs is None or any(fnmatchcase(dag_id, g) for g in globs)


def _decide(
    access: Access, channel_id: str, verb: str, deployment: str | None, dag_id: str | None
) -> Decision:
    """Narrow the user's grants step by step; the step that leaves none names what is missing."""
    where = f" on `{deployment}`" if deployment else ""
    retry = ""
    if access.unchecked_groups:
        groups = ", ".join(f"<!subteam^{g}>" for g in access.unchecked_groups)
        retry = f" (Slack could not tell whether you are in {groups} just now; try again shortly.)"
    if not access.scopes:
        return Decision(
            False,
            "You have no permissions in this bot. Ask an admin to add your Slack user ID "
            f"(`{access.user_id}`) to a grant in its config.{retry}",
        )
    with_verb = [s for s in access.scopes if verb in s.verbs]
    if not with_verb:
        return Decision(False, f"None of your grants allows `{verb}`.{retry}")
    on_dep = [s for s in with_verb if s.deployments is None or deployment in s.deployments]
    if not on_dep:
        names = ", ".join(
            f"`{n}`" for n in sorted({d for s in with_verb for d in s.deployments or ()})
        )
        return Decision(False, f"You may `{verb}` only on {names}, not{where}.{retry}")
    in_channel = [s for s in on_dep if s.channels is None or channel_id in s.channels]
    if not in_channel:
        channels = ", ".join(sorted({f"<#{c}>" for s in on_dep for c in s.channels or ()}))
        return Decision(False, f"You may `{verb}`{where} only in {channels}, not here.{retry}")
    if dag_id is None:
        return ALLOW
    globs = access.dag_globs(channel_id=channel_id, verb=verb, deployment=deployment or "")
    if dag_allowed(dag_id, globs):
        return ALLOW
    patterns = ", ".join(code(g) for g in globs or ())
    return Decision(
        False,
        f"You may `{verb}`{where} only DAGs matching {patterns}; {code(dag_id)} is not one.{retry}",
    )
