"""gunicorn settings for the ``web`` process, shared by the Procfile and ``python -m bot``."""

from __future__ import annotations

import gc
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
# Threads, not processes: a request's work is an ack of microseconds, and one process keeps
# one worker pool and one set of Airflow connections. WEB_CONCURRENCY adds processes if wanted.
worker_class = "gthread"
# One process by default, not one per core: one acks a burst of 50 with p99 45-64 ms (bench/,
# work held back while acks are in progress: bot/core/ack_priority.py), while a second costs its own
# memory, splits each deployment's max_in_flight budget in two halves that fill unevenly
# (answers came later), and a dyno's os.cpu_count() is the host's, not the dyno's share.
workers = int(os.environ.get("WEB_CONCURRENCY") or "1")
threads = int(os.environ.get("WEB_THREADS", "8"))
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


def pre_fork(server: object, worker: object) -> None:
    # The app is built in the master (preload_app). Frozen, its objects stay out of the
    # workers' garbage collections, which would otherwise write to every inherited page that
    # holds one and so copy it into each worker (about 10 MiB a worker: bench/memory.py).
    gc.freeze()


def post_worker_init(worker: object) -> None:
    # Threads do not survive gunicorn's fork: each worker starts following runs itself.
    from bot.slack.app import start_background_work

    start_background_work()
