"""The composition root: it reads the settings and the config, builds the store, the Airflow
clients, the core services and the Slack app, and hands each what it needs. Nothing else
builds any of them (docs/how-it-is-built.md draws the layers below it).

``application`` is the WSGI application the Procfile's ``web`` process serves
(``gunicorn ... bot.app:application``): built on first access, so importing this package
(in tests, or for ``create_bot``) reads no environment.
"""

from __future__ import annotations

import sys
from typing import Any

from bot.app.startup import StartupError, build_bot, load_all, migrate_store, secrets_of
from bot.app.wiring import DRAIN_SECONDS, Bot, create_bot, journal_dir

__all__ = [
    "DRAIN_SECONDS",
    "Bot",
    "StartupError",
    "build_bot",
    "create_bot",
    "journal_dir",
    "load_all",
    "migrate_store",
    "secrets_of",
]


def _load() -> Any:
    from bot.config.environment import export_dotenv
    from bot.serve import gunicorn_conf
    from bot.serve.logs import configure_logging
    from bot.serve.wsgi import wsgi_app

    export_dotenv()  # done already under gunicorn_conf; not under another WSGI server
    configure_logging()
    try:
        bot = build_bot(processes=gunicorn_conf.workers)
    except StartupError as exc:
        # gunicorn shows stderr; the problems list is what the operator needs, not a traceback.
        print(str(exc), file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    return wsgi_app(bot)


def __getattr__(name: str) -> Any:
    if name == "application":
        app = _load()
        globals()["application"] = app
        return app
    raise AttributeError(name)
