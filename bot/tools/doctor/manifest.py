"""The doctor's check of the Slack app manifest: does it declare what the code handles?"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bot.tools.doctor.report import Report
from bot.tools.manifest_check import check_manifest, handled_by_code, load_manifest


def find_manifest(given: str | os.PathLike[str] | None) -> Path | None:
    if given is not None:
        return Path(given)
    for candidate in (
        Path("manifest.yml"),
        Path(__file__).resolve().parents[3] / "manifest.yml",
    ):
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path: Path | None, report: Report) -> dict[str, Any] | None:
    if path is None:
        report.warn("manifest.yml", "not found here; give its path with --manifest to check it")
        return None
    try:
        return load_manifest(path)
    except ValueError as exc:
        report.fail(str(path), str(exc))
        return None


def check_manifest_file(path: Path, manifest: dict[str, Any], report: Report) -> None:
    findings = check_manifest(manifest, handled_by_code())
    for problem in findings.problems:
        report.fail(str(path), problem)
    for note in findings.notes:
        report.warn(str(path), note)
    if not findings.problems:
        report.ok(str(path), findings.summary)
