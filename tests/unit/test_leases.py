"""The one lease owner format (bot/store/leases.py): host, process, and a random tail, within
the store's String(64) column whatever the host's name."""

from __future__ import annotations

import os
import re
import socket

import pytest

from bot.store.leases import OWNER_MAX, ProcessOwner, new_owner


def test_an_owner_names_the_host_and_the_process() -> None:
    owner = new_owner()
    host, pid, tail = owner.split(":")
    assert socket.gethostname().startswith(host) and pid == str(os.getpid())
    assert re.fullmatch(r"[0-9a-f]{8}", tail)
    assert new_owner() != owner  # a second holder in one process is another owner


@pytest.mark.parametrize("host", ["", "h", "a" * 63, "node-" + "x" * 250 + ".example.com"])
def test_an_owner_fits_the_column_whatever_the_hosts_name(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    monkeypatch.setattr(os, "getpid", lambda: 4_194_304_000)  # longer than any Linux pid
    owner = new_owner()
    assert len(owner) <= OWNER_MAX and owner.split(":")[1] == "4194304000"
    assert owner.split(":")[0]  # never empty


def test_a_process_keeps_its_owner_and_a_forked_one_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = ProcessOwner()
    first = owner()
    assert owner() == first
    monkeypatch.setattr(os, "getpid", lambda: os.getppid() + 100_000)  # as after a fork
    forked = owner()
    assert forked != first and forked.split(":")[1] == str(os.getppid() + 100_000)
    assert owner() == forked
