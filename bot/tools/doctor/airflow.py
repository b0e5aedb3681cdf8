"""The doctor's checks of each Airflow deployment: reachable, its version and clock, the
credentials accepted, DAGs listed; and hints naming the variable a secret comes from.

For a managed platform's sign-in (OAuth2 client credentials, Google, MWAA) each step is its
own line, so a failure names the step: where Airflow is (MWAA asks AWS), signing in (the
exchange, or no AWS or Google credentials), then whether Airflow accepts what that gave."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

import requests
import yaml

from bot.airflow import AirflowClient, AirflowError, AirflowNotAllowed
from bot.airflow.clients import client_for
from bot.config import Deployment
from bot.tools.doctor.remote import DOCTOR_TIMEOUT_S, check_clock, reason_of
from bot.tools.doctor.report import Report

# The ways of signing in whose exchange doctor checks as a step of its own.
PLATFORM_AUTHS = ("oauth2", "google", "mwaa")
PLATFORM_HINTS = {
    "oauth2": "is the client (API key) one of this deployment's, with the right audience?",
    "google": "does the service account have an Airflow role in the Composer environment "
    "(Composer User, and access to its Airflow UI)?",
    "mwaa": "does the Airflow role in the bot's IAM policy (role/<environment>/<role>) "
    "allow what the bot does (User, or Op)?",
}
# Run ages ("5 minutes ago") and JWT renewal assume the clocks agree.
AIRFLOW_CLOCK_WARN_S = 30
AIRFLOW_CLOCK_LIMIT_S = 300


def check_deployment(
    deployment: Deployment, refs: Mapping[tuple[str, str], str], report: Report
) -> None:
    subject = f"deployment {deployment.name}"
    client = client_for(
        deployment,
        pool_size=1,
        read_timeout=min(deployment.timeout, DOCTOR_TIMEOUT_S),
        read_retries=0,
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
        if deployment.mwaa is None:
            report.fail(subject, f"{exc.message}; check {where}.url")
        else:
            report.fail(subject, f"asking AWS where the web server is failed: {exc.message}")
        return
    invoke = deployment.mwaa is not None and deployment.mwaa.mode == "invoke"
    if invoke:
        if not _check_invoke(client, deployment, subject, report):
            return
    elif not _check_version(client, version, deployment, subject, report):
        return
    # Through InvokeRestApi, AWS checks the bot's signature on every call: nothing to sign in.
    signs_in = deployment.auth in PLATFORM_AUTHS and not invoke
    if signs_in and not _check_sign_in(client, subject, report):
        return
    _check_dags(client, deployment, refs, subject, report)


def _check_version(
    client: AirflowClient, version: str, deployment: Deployment, subject: str, report: Report
) -> bool:
    where = f"deployments.{deployment.name}"
    version_url = f"{client.base_url}/api/{version}/version"
    sent = time.time()
    try:
        resp = requests.get(version_url, timeout=(3.05, DOCTOR_TIMEOUT_S))
        body = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        report.fail(subject, f"{version_url} failed: {reason_of(exc)}; check {where}.url")
        return False
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
        return False
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
    return True


def _check_invoke(
    client: AirflowClient, deployment: Deployment, subject: str, report: Report
) -> bool:
    """Through InvokeRestApi there is no web server to ask directly: ask Airflow through AWS."""
    assert deployment.mwaa is not None
    try:
        number = client.version()
    except AirflowError as exc:
        report.fail(subject, f"calling Airflow through InvokeRestApi failed: {exc.message}")
        return False
    report.ok(
        subject,
        f"Airflow {number} of MWAA environment {deployment.mwaa.environment} in "
        f"{deployment.mwaa.region} through InvokeRestApi, API {client.api_version}",
    )
    return True


def _check_sign_in(client: AirflowClient, subject: str, report: Report) -> bool:
    """The platform's exchange, before any call to Airflow: its failure is the exchange's."""
    auth = client.auth()
    try:
        auth.apply({})
    except AirflowError as exc:
        report.fail(subject, f"signing in failed: {exc.message}")
        return False
    describe = getattr(auth, "describe", None)
    report.ok(subject, f"signed in with {describe() if callable(describe) else 'credentials'}")
    return True


def _check_dags(
    client: AirflowClient,
    deployment: Deployment,
    refs: Mapping[tuple[str, str], str],
    subject: str,
    report: Report,
) -> None:
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
    who = {
        "password": f"user {deployment.username}",
        "token": "token",
        "oauth2": "OAuth2 token",
        "google": "Google access token",
        "mwaa": "MWAA web login" if _login(deployment) else "InvokeRestApi",
    }[deployment.auth]
    report.ok(subject, f"credentials accepted ({who})")
    if page.total == 0:
        report.warn(
            subject,
            "no DAGs listed: the DAGs folder may be empty, or the credentials may not read DAGs",
        )
    else:
        shown = ", ".join(d.dag_id for d in page.dags[:3]) + (", ..." if page.total > 3 else "")
        report.ok(subject, f"{page.total} DAG(s) listed ({shown})")


def _login(deployment: Deployment) -> bool:
    return deployment.mwaa is not None and deployment.mwaa.mode == "login"


def _credentials_hint(deployment: Deployment, refs: Mapping[tuple[str, str], str]) -> str:
    where = f"deployments.{deployment.name}"
    if deployment.auth in PLATFORM_AUTHS:
        return f"Airflow refused what signing in gave: {PLATFORM_HINTS[deployment.auth]}"
    if deployment.token is not None:
        var = refs.get((deployment.name, "token"))
        return f"check the token{f' in ${{{var}}}' if var else ''} ({where}.token)"
    var = refs.get((deployment.name, "password"))
    return (
        f"check the password{f' in ${{{var}}}' if var else ''} for user {deployment.username} "
        f"({where}.username and .password)"
    )


def secret_references(path: str) -> dict[tuple[str, str], str]:
    """(deployment, "token"|"password"|"client_secret") -> the variable named in the file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    refs: dict[tuple[str, str], str] = {}
    deployments = data.get("deployments") if isinstance(data, dict) else None
    for name, body in (deployments or {}).items() if isinstance(deployments, dict) else []:
        for key in ("token", "password", "client_secret"):
            raw = body.get(key) if isinstance(body, dict) else None
            match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(raw or "").strip())
            if match:
                refs[(str(name), key)] = match.group(1)
    return refs
