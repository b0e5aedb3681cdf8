"""A local stand-in for Slack: Web API, response URLs and Socket Mode.

The console (`python -m bot console`) runs the bot against it, and the tests do too.

One ``ThreadingHTTPServer`` on 127.0.0.1 (free port) serves:

* ``/api/<method>``: the Web API methods the bot uses, answered in Slack's shapes,
  including Slack's error answers (HTTP 200, ``{"ok": false, "error": ...}``);
* ``/response/<id>``: response URLs handed out by :meth:`SlackStandin.new_response_url`;
* ``/socket?ticket=...``: a Socket Mode WebSocket (RFC 6455, written with the stdlib),
  the URL ``apps.connections.open`` hands out to the app token.

Every request is recorded as a :class:`Call` before it is answered. Faults
(``fail_next``, ``rate_limit_next``, ``server_error_next``, ``disconnect_next``, and
``accept_then_drop_next`` / ``accept_then_hang_next``, which carry the call out and lose or hold
its answer) are queued per method and consumed in order; ``outage`` and ``rate_limit_every``
answer the calls of a stretch of time. Point ``slack_sdk.WebClient(base_url=standin.api_url)``
at it.

Messages keep their metadata; ``conversations.history`` and ``conversations.replies`` read them
back (the bot token needs a ``*:history`` scope for that, as on Slack: pass ``bot_scopes``), and
``posts_with_event`` / ``event_counts`` count what was posted, to find duplicates.

Stop Socket Mode clients (``client.close()``) before :meth:`SlackStandin.stop`, or their
auto-reconnect will keep trying to reach a server that is gone.

:class:`SlackStandin` is assembled from one part per module, all on the state in ``state``
(its configuration, the record of calls, messages and views, and the one lock):

* ``server``: the HTTP server and its routing; starting and stopping;
* ``webapi``: a Web API request from its body to its answer, and the methods that look things
  up; ``messages`` (``chat.*``), ``history`` (``conversations.history``/``.replies``) and
  ``views`` (``views.*``) hold the rest;
* ``blockkit``: the Block Kit limits Slack enforces;
* ``faults``: the faults to inject, queued or over a stretch of time;
* ``response_urls``: response URLs;
* ``socket_mode`` over ``websocket``: Socket Mode, and the WebSocket under it;
* ``wire``: the shapes of replies and Slack's error answers.
"""

from bot.tools.localslack.blockkit import validate_blocks
from bot.tools.localslack.response_urls import RESPONSE_URL_MAX_USES
from bot.tools.localslack.server import SlackStandin
from bot.tools.localslack.state import Call
from bot.tools.localslack.wire import DROP

__all__ = ["DROP", "RESPONSE_URL_MAX_USES", "Call", "SlackStandin", "validate_blocks"]
