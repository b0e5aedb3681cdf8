"""``run_doctor``: every check in order, what each needs from the ones before, the verdict."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.config.settings import load_environment
from bot.config.variables import VARIABLES
from bot.store import url_password
from bot.tools.doctor.airflow import check_deployment, secret_references
from bot.tools.doctor.manifest import check_manifest_file, find_manifest, read_manifest
from bot.tools.doctor.report import Exit, Report
from bot.tools.doctor.settings import (
    check_config,
    check_environment,
    check_settings,
    config_path,
    lenient_settings,
)
from bot.tools.doctor.slack import check_slack
from bot.tools.doctor.store import check_store
from bot.tools.manifest_check import NEEDED_SCOPES, bot_scopes

_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY", re.IGNORECASE)


def run_doctor(
    env: Mapping[str, str] | None = None,
    *,
    out: TextIO | None = None,
    manifest: str | os.PathLike[str] | None = None,
) -> int:
    env = dict(env) if env is not None else load_environment()
    out = out or sys.stdout
    # Before anything is printed: every value that looks like a secret, by its variable's name.
    secret = {var.name for var in VARIABLES if var.secret}
    report = Report(
        out, [v.strip() for k, v in env.items() if k in secret or _SECRET_NAME.search(k)]
    )
    report.add_secrets([_url_password(env.get("DATABASE_URL", ""))])
    settings = check_settings(env, report)
    check_environment(env, report)
    config = check_config(env, settings, report)
    if config is not None:
        report.add_secrets([s for d in config.deployments.values() for s in d.secrets])
    # Settings with a problem that does not concern Slack or the store (a missing signing
    # secret, say) still let those be checked.
    usable = settings or lenient_settings(env)
    if usable is not None:
        check_store(usable.database_url, report)
    manifest_path = find_manifest(manifest)
    manifest_data = read_manifest(manifest_path, report)
    if usable is not None:
        needed = bot_scopes(manifest_data) if manifest_data else list(NEEDED_SCOPES)
        check_slack(usable, needed, report)
    else:
        report.skip("Slack", "not checked until the settings above are fixed")
    if config is not None:
        refs = secret_references(config_path(env, settings))
        for deployment in config.deployments.values():
            check_deployment(deployment, refs, report)
    if manifest_data is not None and manifest_path is not None:
        check_manifest_file(manifest_path, manifest_data, report)
    total, failed = len(report.lines), report.failures
    if failed:
        out.write(
            f"\n{failed} of {total} checks failed: fix what the FAIL lines say, then run "
            "`python -m bot doctor` again.\n"
        )
        return Exit.PROBLEMS
    out.write(f"\nAll {total} checks passed.\n")
    return Exit.OK


def _url_password(url: str) -> str | None:
    try:
        return url_password(url.strip()) if url.strip() else None
    except ValueError:  # StoreURLError is one
        return None
