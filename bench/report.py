"""What every benchmark's report is made of: its log lines, Markdown tables and charts."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Collection[int]
) -> str:
    """A Markdown table; the columns at the ``numeric`` indexes are right-aligned."""
    align = [" ---: " if i in numeric else " --- " for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    """matplotlib's pyplot drawing to files only (no display here); imported when charting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def host_info() -> list[str]:
    """The machine and the Python stack the subjects run on, as Markdown list items."""
    return [
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"load average at the start {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"slack_bolt {dist_version('slack_bolt')}, slack_sdk {dist_version('slack_sdk')}, "
        f"gunicorn {dist_version('gunicorn')}",
    ]
