"""What the checks of remote services (Slack, Airflow) share: how long they wait, how a
failure to reach one is worded, and this machine's clock against the server's."""

from __future__ import annotations

import email.utils

from bot.tools.doctor.report import Report

DOCTOR_TIMEOUT_S = 10


def check_clock(
    subject: str,
    date_header: str | None,
    local: float,
    report: Report,
    *,
    warn_s: float,
    limit_s: float,
    why: str,
) -> None:
    if not date_header:
        report.warn(subject, "the server sent no Date header; not checked")
        return
    try:
        theirs = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        report.warn(subject, f"cannot read the server's Date header {date_header!r}; not checked")
        return
    # The Date header has whole seconds: a second either way is no skew.
    skew = local - theirs
    if abs(skew) <= 2:
        report.ok(subject, "within 2 s of the server's")
        return
    ahead = "ahead of" if skew > 0 else "behind"
    text = f"this machine is {abs(skew):.0f} s {ahead} the server ({why}): sync it with NTP"
    if abs(skew) > limit_s:
        report.fail(subject, text)
    elif abs(skew) > warn_s:
        report.warn(subject, text)
    else:
        report.ok(subject, f"within {abs(skew):.0f} s of the server's")


def reason_of(exc: BaseException) -> str:
    text = str(exc)
    for marker, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
    ):
        if marker in text:
            return reason
    return type(exc).__name__
