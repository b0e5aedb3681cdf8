"""The store's URL helpers (bot/store/engine.py): what start-up and the doctor show of
``DATABASE_URL``, and its password, kept out of the logs."""

from __future__ import annotations

import pytest

from bot.store import StoreError, StoreURLError, shown_url, sqlite_file, url_password


def test_a_shown_url_hides_its_password() -> None:
    url = "postgresql://bot:s3cret@db.example.com:5432/chatops"
    assert shown_url(url) == "postgresql://bot:***@db.example.com:5432/chatops"
    assert url_password(url) == "s3cret"


def test_a_url_without_a_password_has_none() -> None:
    assert url_password("sqlite:///chatops.db") is None
    assert shown_url("sqlite:///chatops.db") == "sqlite:///chatops.db"


def test_only_a_sqlite_file_has_a_path() -> None:
    assert sqlite_file("sqlite:///state/chatops.db") == "state/chatops.db"
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://bot:pw@db/chatops") is None


@pytest.mark.parametrize("url", ["not a url", "postgresql://bot:pw@db:port/chatops"])
def test_what_is_not_a_database_url_is_a_store_url_error(url: str) -> None:
    for helper in (shown_url, url_password, sqlite_file):
        with pytest.raises(StoreURLError) as info:
            helper(url)
        assert isinstance(info.value, StoreError) and isinstance(info.value, ValueError)
