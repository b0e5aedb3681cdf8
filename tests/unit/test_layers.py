"""The import contract (pyproject.toml, ``[tool.importlinter]``) catches what it is for: an
upward import, a verb known below the root, Slack in the core, SQLAlchemy outside the store,
the benchmarks leaning on the tests. Each probe is planted in a copy of the code, so the
contract is shown to fail, not only to pass (``./scripts/test`` runs it on the real code)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("bot", "commands", "tests", "bench", "demo", "testkit")
# module planted -> (what it imports, the words the report must hold)
PROBES = {
    "bot/config/_probe.py": ("import commands", "bot.config is not allowed to import commands"),
    "bot/core/_probe.py": ("import slack_sdk", "bot.core is not allowed to import slack_sdk"),
    "bot/slack/_probe.py": ("import bot.app", "bot.slack is not allowed to import bot.app"),
    "bot/airflow/_probe.py": ("import bot.store", "bot.airflow is not allowed to import bot.store"),
    "bot/serve/_probe.py": ("import sqlalchemy", "bot.serve is not allowed to import sqlalchemy"),
    "bot/store/_probe.py": ("import bot.tools", "bot.store is not allowed to import bot.tools"),
    "commands/_probe.py": ("import bot.store", "commands is not allowed to import bot.store"),
    "bench/_probe.py": ("import tests", "bench is not allowed to import tests"),
    "tests/_probe.py": ("import bench", "tests is not allowed to import bench"),
    "testkit/_probe.py": ("import tests", "testkit is not allowed to import tests"),
}


def _copy(to: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "results", "dags", "*.md", "*.png")
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, to / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is a dev dependency")
def test_the_contract_holds_and_each_breach_of_it_is_named(tmp_path: Path) -> None:
    _copy(tmp_path)
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    for path, (line, _) in PROBES.items():
        (tmp_path / path).write_text(f"{line}  # noqa\n")
    broken = _lint(tmp_path)
    report = " ".join(broken.stdout.split())  # rich wraps long lines
    assert broken.returncode != 0
    for path, (_, words) in PROBES.items():
        module = path.removesuffix(".py").replace("/", ".")
        assert words in report, f"{module} ({words}) not reported:\n{broken.stdout}"
        assert module in report
