"""The WSGI application gunicorn serves: ``POST /slack/events`` and ``GET /healthz``.

Requests reach Bolt only once they are small enough, signed by Slack and parseable
(bot/serve/request_limits.py); Bolt's own WSGI adapter would read and parse them first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any, Protocol

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

from bot.config.settings import Settings
from bot.serve.request_limits import Limits, Refused, checked_request, discard_body

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
EVENTS_PATH = "/slack/events"
log = logging.getLogger(__name__)


class Served(Protocol):
    """What is served: the Bolt app, its settings and its background work (bot/app builds it)."""

    @property
    def app(self) -> App: ...

    @property
    def settings(self) -> Settings: ...

    def start_background(self) -> None: ...

    def drain(self) -> None: ...


class Application:
    """The WSGI application serving one bot. gunicorn's hooks find the bot on it
    (``worker.wsgi.served``, bot/serve/gunicorn_conf.py) to start its background work in each
    worker and drain it there: nothing is kept in a module global."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self._limits = Limits(max_bytes=served.settings.max_request_bytes)
        self._secret = served.settings.slack_signing_secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _plain(start_response, 200, "ok")
        if path != EVENTS_PATH or method != "POST":
            return _plain(start_response, 404, "Not Found")
        try:
            request = checked_request(environ, signing_secret=self._secret, limits=self._limits)
        except Refused as refused:
            # The client's address is in gunicorn's access log line; nothing of the body here.
            log.warning("refused a request: %s %s", refused.status, refused.reason)
            plain = _plain(start_response, refused.status, refused.reason)
            if refused.body_read:
                return plain
            return _answer_then_discard(plain, environ)
        answer = self.served.app.dispatch(request)
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()


def wsgi_app(bot: Served) -> Application:
    return Application(bot)


def served_by(wsgi: object) -> Served | None:
    """The bot a gunicorn worker serves, if its application is ours."""
    return wsgi.served if isinstance(wsgi, Application) else None


def _answer_then_discard(answer: list[bytes], environ: dict[str, Any]) -> Iterator[bytes]:
    # gunicorn sends each chunk as it comes out of here: the answer is on the wire before the
    # rest of the body is read and dropped (bot/serve/request_limits.py says why).
    yield from answer
    discarded = discard_body(environ)
    log.debug("discarded %d bytes of a refused body", discarded)


def _plain(start_response: StartResponse, status: int, text: str) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
