"""The WSGI application gunicorn serves: ``POST /slack/events`` and ``GET /healthz``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import Bot

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
EVENTS_PATH = "/slack/events"


def wsgi_app(bot: Bot) -> WsgiApp:
    slack = SlackRequestHandler(bot.app, path=EVENTS_PATH)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
            return [b"ok\n"]
        return slack(environ, start_response)

    return application


def _load() -> WsgiApp:
    from bot import gunicorn_conf
    from bot.startup import StartupError, build_bot, configure_logging

    configure_logging()
    try:
        bot = build_bot(processes=gunicorn_conf.workers)
    except StartupError as exc:
        # gunicorn shows stderr; the problems list is what the operator needs, not a traceback.
        print(str(exc), file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    return wsgi_app(bot)


def __getattr__(name: str) -> Any:
    # `gunicorn bot.wsgi:application` builds the bot on first access, so importing this module
    # (in tests, or for `wsgi_app`) reads no environment.
    if name == "application":
        app = _load()
        globals()["application"] = app
        return app
    raise AttributeError(name)
