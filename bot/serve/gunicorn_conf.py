"""gunicorn settings for the ``web`` process, shared by the Procfile and ``python -m bot``."""

from __future__ import annotations

import gc
from typing import Any

from bot.config.environment import export_dotenv
from bot.config.variables import whole_number

# This module is read before the app is loaded, and what it reads is os.environ: `.env` must be
# in it by now, or `PORT=8080` there would pass the doctor while gunicorn bound 3000.
export_dotenv()

bind = f"0.0.0.0:{whole_number('PORT')}"
# Threads within each process: a request's work is an ack of about a millisecond.
worker_class = "gthread"
# Two processes by default, the cores of a 2-core dyno: a burst's acks are spread over both
# (500 at once: p99 ack about half of one process's, bench/results/ack_latency.md), and
# nothing is answered later, since the processes share each deployment's max_in_flight
# budget (bot/airflow/budget.py) and the reads they have in flight (bot/airflow/dyno_reads.py)
# instead of each sending its own with half the budget. Not os.cpu_count(): a dyno's is the
# host's, not its share. Heroku's Python buildpack sets WEB_CONCURRENCY itself when the app
# does not (2 on Basic and Standard-1X dynos, 4 on Standard-2X).
workers = whole_number("WEB_CONCURRENCY")
threads = whole_number("WEB_THREADS")
# Build the bot (config check, Slack auth.test) once in the master, so a bad config stops the
# process with its problems listed instead of workers failing to boot in a loop.
preload_app = True
# Slack waits 3 s for an ack; a request taking longer than this is stuck, not slow.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Slack sends `POST /slack/events` and a dozen short headers; a health check less. Anything far
# beyond that is refused by gunicorn (400/431) before the app sees it. The body's size is the
# app's to check (MAX_REQUEST_BYTES, bot/serve/request_limits.py); slow clients are the proxy's (the
# README's "Deploy": Heroku's router buffers requests).
limit_request_line = 2048
limit_request_fields = 50
limit_request_field_size = 4096
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn's control socket (a file under $HOME) serves no purpose on a dyno, and two bots on
# one machine would fight over its path.
control_socket_disable = True
# The app's limit (bot/config/settings.py reads the same variable, with the same bounds).
max_request_bytes = whole_number("MAX_REQUEST_BYTES")


def pre_request(worker: Any, req: Any) -> None:
    # A body over the limit is answered 413 before it is read, then what is still coming is
    # discarded up to a bound (bot/serve/request_limits.py): the answer says the connection
    # closes after it, since that body may not have been drained whole. Only gunicorn's
    # request can say so; the app's own Connection header would be dropped as hop-by-hop.
    from bot.serve.request_limits import too_large

    if req.method == "POST":
        length = next((v for k, v in req.headers if k == "CONTENT-LENGTH"), None)
        if too_large(length, max_request_bytes):
            req.force_close()


def pre_fork(server: object, worker: object) -> None:
    # The app is built in the master (preload_app). Frozen, its objects stay out of the
    # workers' garbage collections, which would otherwise write to every inherited page that
    # holds one and so copy it into each worker (about 10 MiB a worker: bench/memory.py).
    gc.freeze()


def post_worker_init(worker: object) -> None:
    # Threads do not survive gunicorn's fork: each worker starts following runs itself.
    from bot.serve.wsgi import served_by

    served = served_by(getattr(worker, "wsgi", None))
    if served is not None:
        served.start_background()


def worker_exit(server: object, worker: object) -> None:
    # SIGTERM (a deploy, a restart): the requests acknowledged and not started are handed over
    # to the next process, those running get most of graceful_timeout to finish.
    # gunicorn calls this hook in the master too (a worker that exited by itself): the
    # master's worker object has no application loaded, and its bot, never started, is the
    # one every new worker is forked from, and stays as it is.
    from bot.serve.wsgi import served_by

    served = served_by(getattr(worker, "wsgi", None))
    if served is not None:
        served.drain()
