"""``.env`` into the process environment, once, before anything reads a variable.

gunicorn's settings are read when its config module is imported, before the app is loaded, and
the log set-up, google-auth and boto3 read ``os.environ`` themselves: a ``.env`` only the settings
loader read would pass the doctor (``PORT=8080``) while the bot still bound 3000 and found no
cloud credentials. So each way in (``bot/serve/gunicorn_conf.py``, ``python -m bot``, the WSGI
module) calls :func:`export_dotenv` first. Real environment variables win: a platform's settings
always beat a developer's leftover file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dotenv import dotenv_values

__all__ = ["DotenvExport", "export_dotenv", "last_export"]


@dataclass(frozen=True)
class DotenvExport:
    """What one :func:`export_dotenv` did: names only, never values."""

    path: str
    found: bool
    exported: tuple[str, ...] = ()  # set from the file
    overridden: tuple[str, ...] = ()  # in the file, but the real environment's value won


_last: DotenvExport | None = None


def export_dotenv(path: str = ".env") -> DotenvExport:
    """Set each variable of ``path`` that the environment does not already have.

    Calling it again does nothing more: what it set is in the environment now, and stays.
    """
    global _last
    if not os.path.isfile(path):
        result = DotenvExport(os.path.abspath(path), found=False)
    else:
        exported: list[str] = []
        overridden: list[str] = []
        earlier = _last.exported if _last is not None else ()
        for name, value in dotenv_values(path).items():
            if value is None:  # a bare `NAME` line: no value to give
                continue
            if name in os.environ and name not in earlier:
                overridden.append(name)
                continue
            os.environ[name] = value
            exported.append(name)
        result = DotenvExport(os.path.abspath(path), True, tuple(exported), tuple(overridden))
    _last = result
    return result


def last_export() -> DotenvExport | None:
    """What this process's start took from ``.env`` (the doctor reports it)."""
    return _last
