"""The ``floor`` subject of ``bench.ack_latency``: a WSGI app that reads the request and answers
200, nothing else, under the bot's gunicorn settings::

    gunicorn --config python:bot.serve.gunicorn_conf bench.floor_app:application

What a burst's acks cost on the measuring machine before any bot code runs: gunicorn
accepting 500 connections at once, and the load generator sharing the cores with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]
