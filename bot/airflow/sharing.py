"""Identical Airflow reads in flight are sent once, and every caller gets that call's answer.

In an incident, an alert lands in a channel and ten people press Status on it at once; 500
``/airflow list`` at once made 1,000 identical calls, paced by the deployment's budget
(``max_in_flight``), so the last answer came after minutes. Here a read already on its way, or
queued for the budget, is not sent again: later callers asking the very same thing wait for
its answer.

- Only reads are shared (GETs, and the listing POSTs the client marks ``retry=True``): a write
  is always sent by its own caller.
- The key is everything that makes the answer: method, full URL (so the deployment and the API
  version), query parameters, body, and the credential the call is sent with (the transport's
  ``Auth`` object, by identity). Each deployment's transport keeps its own table, so nothing is
  ever shared across deployments or credentials. Nothing about the asker is in the key: grants
  are applied by each command to what it gets.
- What is shared is Airflow's HTTP response, not a decoded body: each caller decodes its own
  copy (``Transport.call``), so a command that filters or changes what it got cannot touch
  another's. A failure is shared too: each waiting caller raises its own copy of the same error,
  so each command says the same thing (``bot.core.failures``).
- With more than one process (gunicorn's), the thread leading a read in its process joins
  the same read led by another process, if there is one (``bot.airflow.dyno_reads``).
- No cache: the entry goes when the call ends, so a call that starts after another's answer
  came sends its own. An answer is at most one call's duration older than the moment a caller
  joined it, as if its own call had been sent a moment earlier.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from bot.airflow import waits
from bot.airflow.dyno_reads import DynoReads

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str, object]


def read_key(
    method: str, url: str, params: Mapping[str, Any] | None, body: Any, credential: object
) -> Key:
    """What makes two reads the same read. ``credential``: compared by identity."""
    return (method, url, _canonical(params), _canonical(body), _Identity(credential))


def _canonical(value: Any) -> str:
    # Key order carries no meaning in a query or a JSON body; list order does and is kept.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class _Identity:
    """Wraps an object so that keys compare it by identity, whatever its own ``__eq__``."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    answer: requests.Response | None = None
    error: BaseException | None = None
    joined: int = 0


class SharedReads:
    """One deployment's reads in flight, by key (``read_key``); with ``across``, also those
    of the other processes forked from the one that made it (``bot.airflow.dyno_reads``)."""

    def __init__(self, across: DynoReads | None = None) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Key, _Flight] = {}
        self._across = across

    def share(self, key: Key, fetch: Callable[[], requests.Response]) -> requests.Response:
        """``fetch()``'s answer: sent now, or the one already in flight under ``key``."""
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                flight.joined += 1
        if leading:
            across = self._across
            if across is not None:
                # Not the credential's object: the other processes have copies of it, and
                # the table is this deployment's client's alone.
                return self._lead(key, flight, lambda: across.share(key[:4], fetch))
            return self._lead(key, flight, fetch)
        with waits.aside():
            flight.done.wait()
        if flight.error is not None or flight.answer is None:
            raise _fresh(flight.error or RuntimeError("no answer")) from None
        return flight.answer

    def _lead(
        self, key: Key, flight: _Flight, fetch: Callable[[], requests.Response]
    ) -> requests.Response:
        try:
            answer = fetch()
        except BaseException as exc:
            # Kept as it was when it happened: the leader's caller may add to its own error
            # (a lookup's suggestions for its asker) while the others are still waking up.
            flight.error = _fresh(exc)
            raise
        else:
            flight.answer = answer
            return answer
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
            if flight.joined:
                log.debug("%s %s: one call answered %d more", key[0], key[1], flight.joined)

    def in_flight(self) -> int:
        """How many distinct reads are on their way (for tests and diagnostics)."""
        with self._lock:
            return len(self._flights)


def _fresh(error: BaseException) -> BaseException:
    """A copy of ``error`` with its attributes (status, deployment, retry_after), no traceback."""
    try:
        fresh = copy.copy(error)
    except TypeError:  # an exception type that cannot be rebuilt from its args: share it
        return error
    return fresh.with_traceback(None)
