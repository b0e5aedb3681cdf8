"""The README's quick start: ``./scripts/demo``, then ``/airflow list``, ends with DAGs listed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_quick_start_is_the_demo_then_a_list() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("\n\n")[1]
    assert "./scripts/demo" in first_block
    assert "./scripts/run" in first_block and "./scripts/test" in first_block
    section = readme.split("## Try it without Slack", 1)[1].split("\n## ", 1)[0]
    assert "\n    ./scripts/demo\n" in section
    assert "\n    /airflow list\n" in section
    # scripts/demo sets up the venv as scripts/run does, then runs what the test below runs.
    script = (ROOT / "scripts" / "demo").read_text().splitlines()
    assert script[-2:] == ["./scripts/setup", 'exec .venv/bin/python -m demo "$@"']
    assert os.access(ROOT / "scripts" / "demo", os.X_OK)


@pytest.mark.slow
def test_the_demo_starts_airflow_lists_its_dags_and_cleans_up(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "CHATOPS_", "DATABASE_URL"))
    }
    env["TMPDIR"] = str(tmp_path)  # so what the demo writes, and removes, is visible here
    result = subprocess.run(
        [sys.executable, "-m", "demo"],
        input="/airflow list\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"Airflow is up at http://127\.0\.0\.1:\d+", out)
    assert "U0CONSOLE in #console> /airflow list" in out
    for dag_id in ("always_fails", "etl_daily", "hello_world", "reporting_weekly"):
        assert f"*{dag_id}*" in out
    assert "✅ listed 4 DAGs" in out
    assert out.rstrip().endswith("Stopping Airflow...")
    assert "Traceback" not in result.stderr
    # The demo's config and database, and Airflow's home, are gone.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("chatops-demo-")] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("airflow3-")] == []
