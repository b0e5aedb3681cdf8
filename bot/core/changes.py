"""What changed since a failing DAG last worked, the first question in an incident's thread:
its DAG version and bundle version (Airflow 3: a new DAG file, a new git commit) against those of
its last successful run, a run type or conf that differs, and how long ago it last worked.

A run is kept as a few facts (``facts``): conf values only as digests, since a conf may carry
what should not be shown, so the line names the conf keys that differ, never their values. The
last success is read once per incident (bot/core/watcher.py) and kept in the incident's data,
so every later failure of it is compared with no more calls.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from bot.airflow import DagRun
from bot.core import format as fmt
from bot.core.reply import code, escape

CONF_KEYS_SHOWN = 5


def facts(run: DagRun) -> dict[str, Any]:
    """What of a run the comparison needs, as JSON data for the store."""
    return {
        "run_id": run.run_id,
        "end": run.end_date.isoformat() if run.end_date else None,
        "run_type": run.run_type,
        "conf": {str(k): _digest(v) for k, v in sorted(run.conf.items())},
        "dag_version": run.dag_version,
        "bundle_version": run.bundle_version,
    }


def since_it_worked(failed: dict[str, Any], last: dict[str, Any] | None) -> str:
    """One line: what differs between the failed run and the DAG's last success."""
    if last is None:
        return "No successful run of it to compare with: none in Airflow's history."
    differs: list[str] = []
    was, now = last.get("dag_version"), failed.get("dag_version")
    if was is not None and now is not None and was != now:
        differs.append(f"DAG version {was} → {now}")
    was, now = last.get("bundle_version"), failed.get("bundle_version")
    if was and now and was != now:
        differs.append(f"bundle {code(str(was))} → {code(str(now))}")
    if last.get("run_type") != failed.get("run_type"):
        differs.append(
            f"a {escape(str(failed.get('run_type')))} run (it last worked in a "
            f"{escape(str(last.get('run_type')))} one)"
        )
    keys = _conf_keys_changed(failed.get("conf") or {}, last.get("conf") or {})
    if keys:
        more = f" and {len(keys) - CONF_KEYS_SHOWN} more" if len(keys) > CONF_KEYS_SHOWN else ""
        shown = ", ".join(code(k) for k in keys[:CONF_KEYS_SHOWN])
        differs.append(f"conf differs in {shown}{more}")
    ago = _ago(failed.get("end"), last.get("end"))
    head = f"Since it last worked ({ago}run {code(str(last.get('run_id', '')))})"
    if not differs:
        same = "DAG version, " if failed.get("dag_version") is not None else ""
        return f"{head}: the same {same}run type and conf."
    return f"{head}: {'; '.join(differs)}."


def _conf_keys_changed(failed: dict[str, str], last: dict[str, str]) -> list[str]:
    return sorted(k for k in failed.keys() | last.keys() if failed.get(k) != last.get(k))


def _ago(failed_end: str | None, last_end: str | None) -> str:
    if not failed_end or not last_end:
        return ""
    seconds = (
        datetime.fromisoformat(failed_end) - datetime.fromisoformat(last_end)
    ).total_seconds()
    return f"{fmt.duration(max(0.0, seconds))} before, "


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
