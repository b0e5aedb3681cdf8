"""The doctor's check of the state store (bot/tools/doctor/store.py), on the store's own errors
and URL helpers: what it says of a URL that is not one, a database nobody answers, and a good
SQLite file."""

from __future__ import annotations

import io
from pathlib import Path

from bot.store import MIGRATIONS, Store
from bot.tools.doctor.report import Report, Status
from bot.tools.doctor.store import check_store


def _check(url: str) -> tuple[Status, str]:
    report = Report(io.StringIO(), [])
    check_store(url, report)
    [line] = report.lines
    return line.status, line.text


def test_what_is_not_a_database_url_is_named() -> None:
    assert _check("not a url") == (
        Status.FAIL,
        "DATABASE_URL is not a database URL like postgresql://user:pw@host/db",
    )


def test_an_unreachable_database_is_named_by_its_error_without_its_password() -> None:
    status, text = _check("postgresql://bot:secret-pw-99@127.0.0.1:1/chatops")
    assert status is Status.FAIL
    assert text.startswith("postgresql://bot:***@127.0.0.1:1/chatops: OperationalError: ")
    assert text.endswith("; check DATABASE_URL") and "secret-pw-99" not in text


def test_a_sqlite_file_to_be_made_and_one_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatops.db'}"
    assert _check(url) == (Status.OK, f"{url}: the file will be created at start")
    store = Store(url)
    assert store.migrate() == len(MIGRATIONS)
    store.close()
    assert _check(url) == (Status.OK, f"{url}: reachable, schema up to date")
