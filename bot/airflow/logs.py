"""A task's log as lines of text, the same from either API version, and bounded.

Airflow 3 (``/api/v2``, asked for ``application/json``) answers a list of structured records:
``event`` is the line, with ``timestamp``, ``level``, ``logger`` and, for an exception,
``error_detail`` (the traceback as data). Airflow 2 (``/api/v1``) answers the text of the log
file, wrapped in the Python ``repr`` of a list of ``(host, text)`` pairs (its JSON ``content``
is ``str()`` of what its log reader returned). Both open with a group naming where the log was
read from ("Log message source details"): left out, unless it is all there is (then it says
why there is no log, e.g. "Log file not found on worker").
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.airflow.parse import parse_time

MAX_LINES = 20_000
MAX_BYTES = 2_000_000
MAX_LINE_CHARS = 10_000  # one line longer than this (a dumped payload) is cut
GROUP, END_GROUP = "::group::", "::endgroup::"
_SOURCES = GROUP + "Log message source details"
# Airflow 2's text lines: "[2024-06-01T10:00:00.123+0000] {file.py:12} INFO - message", or
# " INFO - message" for the lines it adds itself; the group markers sit in the message.
_V1_MESSAGE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:\{[^}]*\}\s*)?[A-Z]+ - (?P<message>.*)$")


@dataclass
class LogTail:
    """The last lines of a log read in chunks: at most ``max_lines`` lines and ``max_bytes``
    bytes are kept, the earliest dropped first and counted."""

    max_lines: int = MAX_LINES
    max_bytes: int = MAX_BYTES
    dropped: int = 0
    _lines: deque[str] = field(default_factory=deque)
    _bytes: int = 0
    _in_sources: bool = False
    _sources: list[str] = field(default_factory=list)  # said only when nothing else is

    def add(self, lines: Iterable[str]) -> int:
        """Keep ``lines`` (raw lines of either version); returns how many were log lines."""
        added = 0
        for line in lines:
            if self._marker(line):
                continue
            if self._in_sources:
                self._sources.append(line)
                continue
            self._keep(line)
            added += 1
        return added

    def lines(self) -> list[str]:
        kept = list(self._lines) or self._sources[-self.max_lines :]
        if self.dropped:
            note = (
                f"[{self.dropped:,} earlier lines left out: the bot reads at most the last "
                f"{self.max_lines:,} lines or {self.max_bytes // 1_000_000} MB of a log]"
            )
            kept.insert(0, note)
        return kept

    def _marker(self, line: str) -> bool:
        """A group marker is no line of the log; the source details' group is set aside."""
        match = _V1_MESSAGE.match(line)
        message = (match.group("message") if match else line).strip()
        if message.startswith(_SOURCES):
            self._in_sources = True
            return True
        if message.startswith(END_GROUP):
            self._in_sources = False
            return True
        return message.startswith(GROUP)

    def _keep(self, line: str) -> None:
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + "…"
        self._lines.append(line)
        self._bytes += len(line.encode()) + 1
        while len(self._lines) > self.max_lines or self._bytes > self.max_bytes:
            self._bytes -= len(self._lines.popleft().encode()) + 1
            self.dropped += 1


def v2_lines(content: Any) -> list[str]:
    """Airflow 3's records as lines: ``[HH:MM:SS] LEVEL - event``, then any traceback."""
    if isinstance(content, str):
        return content.splitlines()
    lines: list[str] = []
    for record in content if isinstance(content, list) else []:
        if isinstance(record, str):
            lines += record.splitlines()
        elif isinstance(record, dict):
            lines += _record_lines(record)
    return lines


def _record_lines(record: dict[str, Any]) -> list[str]:
    event = str(record.get("event") or "")
    prefix = ""
    when = parse_time(record.get("timestamp"))
    if when is not None:
        prefix += f"[{when.strftime('%H:%M:%S')}] "
    if isinstance(record.get("level"), str):
        prefix += f"{record['level'].upper()} - "
    first, *rest = event.split("\n") if event else [""]
    return [prefix + first, *rest, *_traceback(record.get("error_detail"))]


def _traceback(detail: Any) -> list[str]:
    """Airflow 3 keeps an exception as data (``error_detail``): written as Python prints it."""
    lines: list[str] = []
    for exc in detail if isinstance(detail, list) else []:
        if not isinstance(exc, dict):
            continue
        if lines:
            lines.append(
                "The above exception was the direct cause of the following exception:"
                if exc.get("is_cause")
                else "During handling of the above exception, another exception occurred:"
            )
        lines.append("Traceback (most recent call last):")
        for frame in exc.get("frames") or []:
            if isinstance(frame, dict):
                lines.append(
                    f'  File "{frame.get("filename")}", line {frame.get("lineno")}, '
                    f"in {frame.get('name')}"
                )
        lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
    return lines


def v1_lines(content: Any) -> list[str]:
    """Airflow 2's text: from the ``repr`` of its ``[(host, text), ...]``, or as it came."""
    if not isinstance(content, str):
        return []
    text = content
    if content.startswith("[("):
        try:
            pairs = ast.literal_eval(content)  # literals only: nothing in it is run
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pairs = None
        if isinstance(pairs, list):
            text = "\n".join(
                str(pair[1]) for pair in pairs if isinstance(pair, (tuple, list)) and len(pair) == 2
            )
    return text.splitlines()
