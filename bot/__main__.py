"""``python -m bot``: run the bot in the foreground.

Over Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL needed), otherwise over HTTP
on ``$PORT`` with the same gunicorn settings as the Procfile's ``web`` process.
``python -m bot console`` chats with it in the terminal, without Slack;
``python -m bot doctor`` checks a setup: settings, config, Slack token, deployments, manifest.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from bot.app import (
    StartupError,
    build_bot,
    load_all,
    migrate_store,
    secrets_of,
)
from bot.serve.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    from bot.config.environment import export_dotenv

    # First: the log set-up, gunicorn's settings and the cloud libraries read os.environ.
    export_dotenv()
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "mode",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "console", "doctor"],
        help="serve (default): run the bot; migrate: create or upgrade the store's schema, "
        "as the Procfile's release step does; console: chat with the bot in this terminal, "
        "without Slack; doctor: check the settings, config, Slack token and deployments",
    )
    parser.add_argument(
        "--as",
        dest="user",
        default=None,
        metavar="USER_ID",
        help="console: the Slack user ID you act as (default U0CONSOLE)",
    )
    parser.add_argument(
        "--in",
        dest="channel",
        default=None,
        metavar="CHANNEL_ID",
        help="console: the Slack channel ID you type in (default C0CONSOLE)",
    )
    parser.add_argument(
        "--manifest",
        default=None,
        metavar="PATH",
        help="doctor: the Slack app manifest to check (default manifest.yml)",
    )
    args = parser.parse_args(argv)
    mode = args.mode
    if mode == "console":
        return _console(args.user, args.channel)
    if mode == "doctor":
        from bot.tools.doctor import run_doctor

        return run_doctor(manifest=args.manifest)
    configure_logging()
    if mode == "migrate":
        return _migrate()
    from bot.config.settings import load_environment
    from bot.serve import gunicorn_conf

    env = load_environment()
    # Over HTTP gunicorn forks its processes from this one; Socket Mode is this process alone.
    socket_mode = bool(env.get("SLACK_APP_TOKEN", "").strip())
    try:
        bot = build_bot(env, processes=1 if socket_mode else gunicorn_conf.workers)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    app_token = bot.settings.slack_app_token
    if app_token:
        from bot.serve.request_limits import Limits
        from bot.serve.socket_mode import AppTokenRefused, LimitedSocketModeHandler

        bot.start_background()
        limits = Limits(max_bytes=bot.settings.max_request_bytes)
        handler = LimitedSocketModeHandler(bot.app, app_token, limits=limits)
        # SIGTERM (a deploy, a restart) ends the wait below; the requests not started are
        # then handed over to the next process, as the HTTP workers do (bot/slack/handover.py).
        signal.signal(signal.SIGTERM, _stop)
        try:
            handler.start()  # type: ignore[no-untyped-call]
        except SystemExit:
            pass
        except AppTokenRefused as refused:
            print(refused.message(), file=sys.stderr)
            return StartupError.exit_code
        finally:
            handler.close()  # type: ignore[no-untyped-call]
            bot.drain()
        return 0
    return _serve_http(bot)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _console(user: str | None, channel: str | None) -> int:
    from bot.config.settings import load_environment
    from bot.tools.console import DEFAULT_CHANNEL, DEFAULT_USER, run_console

    return run_console(
        load_environment(), user=user or DEFAULT_USER, channel=channel or DEFAULT_CHANNEL
    )


def _migrate() -> int:
    try:
        settings, config = load_all()
        configure_logging(secrets_of(settings, config))
        migrate_store(settings.database_url)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    print("The state store's schema is up to date.")
    return 0


def _serve_http(bot: Any) -> int:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    from bot.serve import gunicorn_conf
    from bot.serve.wsgi import wsgi_app

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key in dir(gunicorn_conf):
                if key in self.cfg.settings and not key.startswith("_"):
                    self.cfg.set(key, getattr(gunicorn_conf, key))

        def load(self) -> Any:
            return wsgi_app(bot)

    Server().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
