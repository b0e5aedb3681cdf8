"""Turning either API version's JSON into the same typed values and readable messages."""

from __future__ import annotations

import email.utils
import re
import time
from datetime import datetime
from typing import Any

import requests

from bot.airflow.models import Dag, DagImportError, DagRun, TaskInstance

_HTML = re.compile(r"^\s*<", re.S)
MAX_MESSAGE = 300


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def dag_from_json(raw: dict[str, Any]) -> Dag:
    return Dag(
        dag_id=str(raw.get("dag_id", "")),
        is_paused=bool(raw.get("is_paused")),
        description=raw.get("description") or None,
        schedule=_schedule(raw),
        # v1 calls it next_dagrun; v2 next_dagrun_logical_date, or only run_after when the
        # timetable has no logical dates.
        next_run=parse_time(
            raw.get("next_dagrun")
            or raw.get("next_dagrun_logical_date")
            or raw.get("next_dagrun_run_after")
        ),
        tags=tuple(str(t.get("name")) for t in raw.get("tags") or [] if isinstance(t, dict)),
        owners=tuple(str(o) for o in raw.get("owners") or []),
        has_import_errors=bool(raw.get("has_import_errors")),
        max_active_runs=_optional_int(raw.get("max_active_runs")),  # in the details only
    )


# Airflow 3 reports presets as their cron; show the name people wrote, as Airflow 2 does.
_PRESETS = {
    "0 * * * *": "@hourly",
    "0 0 * * *": "@daily",
    "0 0 * * 0": "@weekly",
    "0 0 1 * *": "@monthly",
    "0 0 1 */3 *": "@quarterly",
    "0 0 1 1 *": "@yearly",
}


def _schedule(raw: dict[str, Any]) -> str | None:
    summary = raw.get("timetable_summary")  # v2
    if isinstance(summary, str) and summary and summary != "None":
        return _PRESETS.get(summary, summary)
    interval = raw.get("schedule_interval")  # v1: {"__type": "CronExpression", "value": "..."}
    if isinstance(interval, dict):
        value = interval.get("value")
        if isinstance(value, str) and value:
            return value
        if interval.get("__type") == "TimeDelta":
            return _timedelta_text(interval)
    description = raw.get("timetable_description")
    if isinstance(description, str) and description.lower() not in ("", "never", "none"):
        return description
    return None


def _timedelta_text(interval: dict[str, Any]) -> str:
    days = int(interval.get("days") or 0)
    seconds = int(interval.get("seconds") or 0)
    parts = []
    if days:
        parts.append(f"{days}d")
    if seconds >= 3600:
        parts.append(f"{seconds // 3600}h")
    if seconds % 3600 >= 60:
        parts.append(f"{seconds % 3600 // 60}m")
    return "every " + (" ".join(parts) or f"{seconds}s")


def run_from_json(raw: dict[str, Any]) -> DagRun:
    conf = raw.get("conf")
    versions = raw.get("dag_versions")
    last = versions[-1] if isinstance(versions, list) and versions else None
    version = last if isinstance(last, dict) else {}
    number = version.get("version_number")
    bundle = raw.get("bundle_version") or version.get("bundle_version")
    return DagRun(
        dag_id=str(raw.get("dag_id", "")),
        run_id=str(raw.get("dag_run_id", "")),
        state=str(raw.get("state") or "unknown"),
        logical_date=parse_time(raw.get("logical_date") or raw.get("execution_date")),
        start_date=parse_time(raw.get("start_date")),
        end_date=parse_time(raw.get("end_date")),
        run_type=raw.get("run_type"),
        conf=conf if isinstance(conf, dict) else {},
        note=raw.get("note"),
        queued_at=parse_time(raw.get("queued_at")),
        dag_version=number if isinstance(number, int) else None,
        bundle_version=str(bundle) if bundle else None,
    )


def task_instance_from_json(raw: dict[str, Any]) -> TaskInstance:
    state = raw.get("state")
    return TaskInstance(
        task_id=str(raw.get("task_id", "")),
        state=str(state) if state else None,
        try_number=_int(raw.get("try_number"), 0),
        map_index=_int(raw.get("map_index"), -1),
        start_date=parse_time(raw.get("start_date")),
        end_date=parse_time(raw.get("end_date")),
        dag_id=str(raw.get("dag_id") or ""),
        run_id=str(raw.get("dag_run_id") or ""),
        queued_at=parse_time(raw.get("queued_when")),
        scheduled_at=parse_time(raw.get("scheduled_when")),  # Airflow 3 only
        pool=str(raw["pool"]) if raw.get("pool") else None,
    )


def import_error_from_json(raw: dict[str, Any]) -> DagImportError:
    bundle = raw.get("bundle_name")  # Airflow 3 only
    return DagImportError(
        id=_int(raw.get("import_error_id"), 0),
        filename=str(raw.get("filename") or ""),
        stack_trace=str(raw.get("stack_trace") or ""),
        timestamp=parse_time(raw.get("timestamp")),
        bundle=str(bundle) if bundle else None,
    )


def dependency_reasons(raw: Any) -> list[str]:
    """Airflow's ``dependencies`` ([{name, reason}]) as lines, "name: reason" each, or the
    reason alone where it already starts with the name."""
    reasons = []
    for dep in raw if isinstance(raw, list) else []:
        if not isinstance(dep, dict):
            continue
        name = str(dep.get("name") or "").strip()
        reason = " ".join(str(dep.get("reason") or "").split())
        if not name or reason.lower().startswith(name.lower()):
            line = reason or name
        else:
            line = f"{name}: {reason}" if reason else name
        if line:
            reasons.append(line)
    return reasons


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def error_message(resp: requests.Response) -> str:
    """Airflow's own words from any error body shape: problem JSON, FastAPI detail, HTML, text."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if body is not None:
        message = _from_body(body)
    else:
        text = resp.text.strip()
        message = text if text and not _HTML.match(text) else None
    return _clip(message or f"HTTP {resp.status_code} {resp.reason or ''}".strip())


def _from_body(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, str) and detail:
        return detail  # v1 problem JSON and v2 plain errors
    if isinstance(detail, list):  # v2 validation: [{"loc": [...], "msg": ...}, ...]
        parts = [_validation_item(item) for item in detail]
        return "; ".join(p for p in parts if p) or None
    if isinstance(detail, dict):  # v2 conflicts: {"reason": ..., "statement": ..., ...}
        for key in ("message", "reason", "msg"):
            if isinstance(detail.get(key), str):
                return str(detail[key])
    for key in ("title", "message", "error"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return None


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
    msg = str(item.get("msg", ""))
    return f"{where}: {msg}" if where else msg


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
