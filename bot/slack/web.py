"""The Slack Web API client: pointed where settings say, retrying the way Slack asks."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

log = logging.getLogger(__name__)
SLACK_TIMEOUT_S = 10


def make_web_client(token: str, base_url: str | None = None) -> WebClient:
    client = WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=SLACK_TIMEOUT_S,
        logger=log,
    )
    # 429s honour Retry-After; 5xx and dropped connections back off and try again.
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    if not any(isinstance(h, ConnectionErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(ConnectionErrorRetryHandler())
    return client
