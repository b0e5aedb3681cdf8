"""Reading the config: the file, its YAML, and one `ConfigError` that lists every problem.

`parse_config` turns the file's text into a `Config` or raises one `ConfigError` listing every
problem by its path in the file, so a broken config stops the bot at start-up with everything
the operator needs to fix it, not just the first mistake. Secrets are never written in the file:
`token` and `password` must be `${VAR}` references, filled from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import yaml

from bot.config.checker import Checker, show
from bot.config.checks import check_config
from bot.config.model import Config, VerbFacts

__all__ = ["ConfigError", "load_config", "parse_config"]


class ConfigError(Exception):
    """The config cannot be used; `problems` says why, each as "path: what is wrong"."""

    def __init__(self, problems: Iterable[str], *, source: str = "chatops.yml") -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


def load_config(
    path: str | os.PathLike[str], env: Mapping[str, str], *, verbs: VerbFacts
) -> Config:
    """Read and validate the config file at `path`, filling `${VAR}` from `env`; its roles and
    deployment names are checked against `verbs` (the registry's facts)."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"config file not found (looked for {os.path.abspath(source)}); create it, "
                "or set CHATOPS_CONFIG to its path"
            ],
            source=source,
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"], source=source
        ) from None
    except OSError as exc:
        raise ConfigError(
            [f"cannot read the config file: {exc.strerror or exc}; check CHATOPS_CONFIG"],
            source=source,
        ) from None
    return parse_config(text, env, verbs=verbs, source=source)


def parse_config(
    text: str, env: Mapping[str, str], *, verbs: VerbFacts, source: str = "chatops.yml"
) -> Config:
    """Validate config text, filling `${VAR}` from `env`; raise one ConfigError for all problems."""
    data = _load_yaml(text, source)
    checker = Checker(env)
    config = check_config(checker, data, verbs)
    if checker.problems:
        raise ConfigError(checker.redacted_problems(), source=source)
    return config


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys.

    PyYAML silently keeps the last of two equal keys, so a second `prod:` would quietly
    replace the first deployment.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            # Merge keys (`<<`) may override on purpose; only plain scalar keys can clash here.
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                first_line = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {show(key)} (first on line {first_line})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc)], source=source) from None
    except RecursionError:
        raise ConfigError(["invalid YAML: nested too deeply"], source=source) from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's constructors let out whatever parsing a scalar raises: ValueError for a date
        # like 2024-02-30, AttributeError for `!!timestamp x`, and so on. The loader promises
        # ConfigError for any input, so the user gets a message rather than a traceback.
        raise ConfigError(
            [f"invalid YAML: {exc or type(exc).__name__} (quote the value if it is meant as text)"],
            source=source,
        ) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Build the message ourselves: PyYAML's own quotes lines of the file, which may hold secrets.
    if isinstance(exc, yaml.reader.ReaderError):
        return f"position {exc.position}: invalid YAML: {exc.reason} (character {exc.character!r})"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    what = exc.problem or exc.context or "not valid"
    if exc.context and exc.problem:
        what = f"{exc.problem} ({exc.context})"
    hint = ""
    if "'\\t'" in what:
        hint = "; YAML indents with spaces, not tabs"
    elif isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError):
        hint = "; quote values that contain ': ' or start with one of {}[]&*!|>'\"%@`"
    return f"{where}invalid YAML: {what}{hint}"
