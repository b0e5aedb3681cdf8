"""The doctor's report: one line per check, printed as it completes, every secret masked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TextIO

_MIN_SECRET = 6


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    SKIP = "skip"  # not checked, because of a failure above
    FAIL = "FAIL"


class Exit(IntEnum):
    OK = 0
    PROBLEMS = 1


@dataclass(frozen=True)
class Line:
    status: Status
    subject: str
    text: str


class Report:
    """Prints each check as it completes, with every secret masked."""

    def __init__(self, out: TextIO, secrets: list[str]) -> None:
        self._out = out
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self.lines: list[Line] = []

    def add_secrets(self, secrets: list[str | None]) -> None:
        more = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        self._secrets = sorted(set(self._secrets) | more, key=len, reverse=True)

    def ok(self, subject: str, text: str) -> None:
        self._add(Status.OK, subject, text)

    def warn(self, subject: str, text: str) -> None:
        self._add(Status.WARN, subject, text)

    def fail(self, subject: str, text: str) -> None:
        self._add(Status.FAIL, subject, text)

    def skip(self, subject: str, text: str) -> None:
        self._add(Status.SKIP, subject, text)

    def _add(self, status: Status, subject: str, text: str) -> None:
        line = Line(status, subject, self.mask(text))
        self.lines.append(line)
        self._out.write(f"{status.value:<5} {line.subject}: {line.text}\n")
        self._out.flush()

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def failures(self) -> int:
        return sum(1 for line in self.lines if line.status is Status.FAIL)
