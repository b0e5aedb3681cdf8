"""Logging set-up, with every configured secret masked in every record, whoever logs it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from bot.config.variables import LOG_LEVELS, variable

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = message
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting the traceback here lets us mask it too, then drop the raw exception.
            formatted = logging.Formatter().formatException(record.exc_info)
            for secret in self._secrets:
                formatted = formatted.replace(secret, MASK)
            text = f"{text}\n{formatted}"
            record.exc_info = None
            record.exc_text = None
        if text != message or record.args:
            record.msg, record.args = text, None
        return True


def configure_logging(secrets: Iterable[str] = ()) -> None:
    default = variable("LOG_LEVEL").default or "INFO"
    level = (os.environ.get("LOG_LEVEL", "").strip() or default).upper()
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream)
    # A wrong value is the doctor's to name (bot/tools/doctor/settings.py), not a reason to stop.
    root.setLevel(level if level in LOG_LEVELS else default)
    redact = RedactSecrets(secrets)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)
        handler.addFilter(redact)
