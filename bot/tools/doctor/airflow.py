"""The doctor's checks of each Airflow deployment: reachable, its version and clock, the
credentials accepted, DAGs listed; and hints naming the variable a secret comes from."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

import requests
import yaml

from bot.airflow import AirflowClient, AirflowError, AirflowNotAllowed
from bot.config import Deployment
from bot.tools.doctor.remote import DOCTOR_TIMEOUT_S, check_clock, reason_of
from bot.tools.doctor.report import Report

# Run ages ("5 minutes ago") and JWT renewal assume the clocks agree.
AIRFLOW_CLOCK_WARN_S = 30
AIRFLOW_CLOCK_LIMIT_S = 300


def check_deployment(
    deployment: Deployment, refs: Mapping[tuple[str, str], str], report: Report
) -> None:
    name = deployment.name
    subject = f"deployment {name}"
    client = AirflowClient(
        base_url=deployment.url,
        name=name,
        token=deployment.token,
        username=deployment.username,
        password=deployment.password,
        api_version=deployment.api_version,
        read_timeout=min(deployment.timeout, DOCTOR_TIMEOUT_S),
        read_retries=0,
        pool_size=1,
    )
    try:
        _check_airflow(client, deployment, refs, subject, report)
    finally:
        client.close()


def _check_airflow(
    client: AirflowClient,
    deployment: Deployment,
    refs: Mapping[tuple[str, str], str],
    subject: str,
    report: Report,
) -> None:
    where = f"deployments.{deployment.name}"
    try:
        version = client.api_version
    except AirflowError as exc:
        report.fail(subject, f"{exc.message}; check {where}.url")
        return
    version_url = f"{client.base_url}/api/{version}/version"
    sent = time.time()
    try:
        resp = requests.get(version_url, timeout=(3.05, DOCTOR_TIMEOUT_S))
        body = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        report.fail(subject, f"{version_url} failed: {reason_of(exc)}; check {where}.url")
        return
    received = time.time()
    if not isinstance(body, dict) or "version" not in body:
        hint = (
            f"is {where}.api_version right? (auto detects it)"
            if deployment.api_version != "auto"
            else f"is {where}.url the Airflow base URL, before /api?"
        )
        report.fail(
            subject, f"{version_url} answered HTTP {resp.status_code}, not a version: {hint}"
        )
        return
    report.ok(subject, f"Airflow {body['version']} at {client.base_url}, API {version}")
    check_clock(
        f"{subject} clock",
        resp.headers.get("Date"),
        (sent + received) / 2,
        report,
        warn_s=AIRFLOW_CLOCK_WARN_S,
        limit_s=AIRFLOW_CLOCK_LIMIT_S,
        why="run ages the bot shows and token renewal assume the clocks agree",
    )
    try:
        page = client.list_dags(limit=100)
    except AirflowNotAllowed as exc:
        report.fail(
            subject,
            f"credentials refused (HTTP {exc.status}): {_credentials_hint(deployment, refs)}",
        )
        return
    except AirflowError as exc:
        report.fail(subject, f"listing DAGs failed: {exc.message}")
        return
    who = f"user {deployment.username}" if deployment.token is None else "token"
    report.ok(subject, f"credentials accepted ({who})")
    if page.total == 0:
        report.warn(
            subject,
            "no DAGs listed: the DAGs folder may be empty, or the credentials may not read DAGs",
        )
    else:
        shown = ", ".join(d.dag_id for d in page.dags[:3]) + (", ..." if page.total > 3 else "")
        report.ok(subject, f"{page.total} DAG(s) listed ({shown})")


def _credentials_hint(deployment: Deployment, refs: Mapping[tuple[str, str], str]) -> str:
    where = f"deployments.{deployment.name}"
    if deployment.token is not None:
        var = refs.get((deployment.name, "token"))
        return f"check the token{f' in ${{{var}}}' if var else ''} ({where}.token)"
    var = refs.get((deployment.name, "password"))
    return (
        f"check the password{f' in ${{{var}}}' if var else ''} for user {deployment.username} "
        f"({where}.username and .password)"
    )


def secret_references(path: str) -> dict[tuple[str, str], str]:
    """(deployment, "token"|"password") -> the variable named in the file, for the hints."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    refs: dict[tuple[str, str], str] = {}
    deployments = data.get("deployments") if isinstance(data, dict) else None
    for name, body in (deployments or {}).items() if isinstance(deployments, dict) else []:
        for key in ("token", "password"):
            raw = body.get(key) if isinstance(body, dict) else None
            match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(raw or "").strip())
            if match:
                refs[(str(name), key)] = match.group(1)
    return refs
