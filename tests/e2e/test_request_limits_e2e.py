"""A refused body, sent to the ``web`` process as the Procfile runs it, by a client that sends its
whole body before it reads anything: Python's urllib (as Heroku's router does).

The socket used to be closed while such a client was still sending, so it saw a connection
reset instead of the 413 (Heroku's router logs H18 and serves its own error page).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.tools.localslack import SlackStandin
from testkit.bot_process import BotProcess, free_port
from testkit.raw_requests import CONFIG

MB = 1000 * 1000
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def web(slack: SlackStandin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("limits")
    config = CONFIG.format(port=free_port())
    # One process, so the memory measured is the one that answered.
    env = {"PROD_TOKEN": "unused", "WEB_CONCURRENCY": "1"}
    with BotProcess(workdir=workdir, config=config, slack_api_url=slack.api_url, env=env) as bot:
        yield bot


def post_with_urllib(
    url: str, body: bytes, *, timestamp: int | None = None
) -> urllib.error.HTTPError:
    """urllib's answer to an unsigned POST: it writes all of ``body`` before reading."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp or int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    request = urllib.request.Request(f"{url}/slack/events", data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    return caught.value


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(pid)


def test_urllib_reads_the_413_of_a_21_mb_body(web: BotProcess) -> None:
    (worker,) = web.worker_pids()
    before = rss_mib(worker)
    started = time.monotonic()
    answer = post_with_urllib(web.url, b"text=" + b"a" * (21 * MB))
    took = time.monotonic() - started
    assert answer.code == 413
    assert answer.read() == f"larger than {MiB} bytes\n".encode()
    # The body may not have been drained whole: no next request may follow it on this socket.
    assert answer.headers["Connection"] == "close"
    assert took < 5
    assert rss_mib(worker) - before < 8  # thrown away as it came, 64 KiB at a time
    assert requests.get(f"{web.url}/healthz", timeout=5).status_code == 200


def test_a_stale_signature_on_a_body_under_the_limit_is_read_as_401(web: BotProcess) -> None:
    # 1 MB, unsigned, refused before it is read: more than gunicorn alone would drain (64 KiB).
    answer = post_with_urllib(
        web.url, b"text=" + b"a" * (MB - 5), timestamp=int(time.time()) - 3600
    )
    assert answer.code == 401


def test_a_100_mb_body_leaves_memory_flat(web: BotProcess) -> None:
    (worker,) = web.worker_pids()
    before = rss_mib(worker)
    try:
        # Past the 64 MiB read and thrown away, the socket is closed under the client: urllib
        # may see a reset now. What matters here is the process.
        code: int | None = post_with_urllib(web.url, b"text=" + b"a" * (100 * MB)).code
    except (ConnectionError, urllib.error.URLError):
        code = None
    assert code in (413, None)
    assert rss_mib(worker) - before < 8
    assert requests.get(f"{web.url}/healthz", timeout=5).status_code == 200
