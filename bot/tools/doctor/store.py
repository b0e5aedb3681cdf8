"""The doctor's check of the state store: reachable (or creatable), and its schema's version."""

from __future__ import annotations

import os
from pathlib import Path

from bot.store import MIGRATIONS, Store, StoreError, StoreURLError, shown_url, sqlite_file
from bot.tools.doctor.report import Report


def check_store(database_url: str, report: Report) -> None:
    subject = "state store"
    try:
        shown, file = shown_url(database_url), sqlite_file(database_url)
    except StoreURLError:
        report.fail(subject, "DATABASE_URL is not a database URL like postgresql://user:pw@host/db")
        return
    if file is not None:
        path = Path(file)
        if not path.exists():
            folder = path.resolve().parent
            if os.access(folder, os.W_OK):
                report.ok(subject, f"{shown}: the file will be created at start")
            else:
                report.fail(subject, f"{shown}: cannot create it, {folder} is not writable")
            return
    store: Store | None = None
    try:
        store = Store(database_url)
        version = store.schema_version()
    except StoreError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        report.fail(subject, f"{shown}: {exc.kind}: {first}; check DATABASE_URL")
        return
    finally:
        if store is not None:
            store.close()
    latest = len(MIGRATIONS)
    if version > latest:
        report.fail(
            subject,
            f"{shown}: schema version {version} is newer than this bot's ({latest}): "
            "run the newer release",
        )
    elif version < latest:
        report.ok(
            subject,
            f"{shown}: reachable; schema version {version} will be upgraded to {latest} at "
            "start (or by `python -m bot migrate`, the Procfile's release step)",
        )
    else:
        report.ok(subject, f"{shown}: reachable, schema up to date")
