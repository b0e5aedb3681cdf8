"""The bots this process serves, for gunicorn's hooks: its workers are forked from the process
that built the bot (preload), and threads do not survive a fork, so each worker starts the
background work itself, and drains it when told to stop."""

from __future__ import annotations

import os
from typing import Protocol


class Served(Protocol):
    def start_background(self) -> None: ...

    def drain(self) -> None: ...


_SERVED: list[Served] = []
_STARTED: dict[int, int] = {}  # id(bot) -> the process that started its background work


def serving(bot: Served) -> None:
    if bot not in _SERVED:
        _SERVED.append(bot)


def start_background_work() -> None:
    for bot in _SERVED:
        _STARTED[id(bot)] = os.getpid()
        bot.start_background()


def drain_all() -> None:
    """In a serving process told to stop (gunicorn's worker_exit). gunicorn calls that hook in
    the master too (a worker that exited by itself): the master's bot, never started, is the
    one every new worker is forked from, and stays as it is."""
    for bot in _SERVED:
        if _STARTED.get(id(bot)) == os.getpid():
            bot.drain()
