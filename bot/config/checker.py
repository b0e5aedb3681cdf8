"""Reading the parsed YAML: the `Checker` collects every problem by its path in the file.

It fills in `${VAR}` from the environment as it goes (`$$` is a literal `$`), takes secrets
(`token`, `password`, `client_secret`) only as `${VAR}`, and keeps the secrets it filled in so
that no problem shows them.
`show`, `kind_of` and `did_you_mean` are the words messages use for what the user wrote.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Checker", "did_you_mean", "key_path", "kind_of", "show"]

# `$$`, or `${` up to the next `}` (a missing `}` is reported, not left as text).
_REFERENCE = re.compile(r"\$(?:\$|\{(?P<body>[^}]*)(?P<close>\}?))")
_REFERENCE_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
# A secret must be exactly one reference with no default: a default would be a secret in the file.
_SECRET_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_USE_ENV_HINT = "put the secret in the environment and write ${VAR} here"
_SHOW_LIMIT = 60


def show(value: object) -> str:
    """A user's value for a message: quoted, shortened, never a whole nested structure."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a very large number"  # and repr() of a huge int may refuse outright
    if not isinstance(value, str | int | float):
        return kind_of(value)
    shown = repr(value)
    return shown if len(shown) <= _SHOW_LIMIT else shown[: _SHOW_LIMIT - 4] + "...'"


def kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str) or len(word) > _SHOW_LIMIT:
        return ""  # difflib is quadratic, and a long word is no typo
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def key_path(path: str, key: object) -> str:
    """The path of a mapping entry: `deployments.prod`."""
    part = key if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else show(key)
    return f"{path}.{part}" if path else str(part)


class Checker:
    """Collects problems while reading the parsed YAML, and fills in `${VAR}` as it goes."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.secrets: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def redacted_problems(self) -> list[str]:
        # Belt and braces: a secret's value may also have been put in, say, a url by mistake.
        problems = self.problems
        for secret in sorted(self.secrets, key=len, reverse=True):
            problems = [problem.replace(secret, "***") for problem in problems]
        return problems

    def mapping(self, path: str, value: object, expected: str) -> dict[Any, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, f"must be {expected}, got {kind_of(value)}")
        return None

    def sequence(self, path: str, value: object, example: str) -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.problem(path, f"must be a list, like {example}, got {kind_of(value)}")
        return None

    def known_keys(
        self,
        path: str,
        mapping: Mapping[Any, Any],
        allowed: Iterable[str],
        *,
        extensions: bool = False,
    ) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            # Like docker compose, `x-...` keys may hold YAML anchors to reuse (`<<: *defaults`).
            if extensions and isinstance(key, str) and key.startswith("x-"):
                continue
            if key not in allowed:
                where = f"{path}: unknown" if path else "unknown"
                self.problems.append(
                    f"{where} key {show(key)}{did_you_mean(key, allowed)}; "
                    f"expected one of {', '.join(allowed)}"
                )

    def string(self, path: str, value: object) -> str | None:
        """A text value with `${VAR}` filled in, or None (and a problem) if it cannot be."""
        if not isinstance(value, str):
            self.problem(path, f"must be text, got {kind_of(value)}")
            return None
        return self.substitute(path, value)

    def substitute(self, path: str, raw: str) -> str | None:
        ok = True

        def replace(match: re.Match[str]) -> str:
            nonlocal ok
            if match.group(0) == "$$":
                return "$"
            body = match.group("body")
            if not match.group("close"):
                ok = False
                self.problem(path, "'${' without a closing '}'; write $$ for a literal $")
                return ""
            reference = _REFERENCE_BODY.fullmatch(body)
            if reference is None:
                ok = False
                self.problem(
                    path,
                    f"{show('${' + body + '}')} is not a variable reference; write ${{NAME}} "
                    "or ${NAME:-default}, or $$ for a literal $",
                )
                return ""
            name, default = reference.group("name"), reference.group("default")
            value = self.env.get(name)
            if default is not None and not value:
                return default
            if value is None:
                ok = False
                self.problem(path, f"environment variable {name} is not set")
                return ""
            return value

        result = _REFERENCE.sub(replace, raw)
        return result if ok else None

    def secret(self, path: str, raw: object) -> str | None:
        """A token or password: only ever `${VAR}`, so the file can be shared and committed."""
        match = _SECRET_REFERENCE.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            self.problem(path, _USE_ENV_HINT)
            return None
        name = match.group("name")
        value = self.env.get(name)
        if value is None:
            self.problem(path, f"environment variable {name} is not set")
            return None
        if not value:
            self.problem(path, f"environment variable {name} is empty")
            return None
        self.secrets.add(value)
        return value
