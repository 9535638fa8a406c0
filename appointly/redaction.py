"""Secrets that travel in URLs, masked before a line is logged or a span is exported: the
check-in code in `/mark?id=...` (printed on a poster, but whoever reads the logs must not be
able to check in for anyone), the provider sign-in challenge id in `/auth/<id>`, sign-up and
email-confirmation and password-reset keys, tokens and codes in query strings, and email
addresses anywhere. Used by the logging filter below (Django's request and runserver logs), by
gunicorn's access log (gunicorn.conf.py) and by the telemetry's URL attributes."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

_PATTERNS = (
    (re.compile(r"((?:^|[?&])(?:id|token|code|key|session_id|email)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(/auth/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"(/signup-provider/verify/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"(/accounts/confirm-email/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"(/accounts/password/reset/key/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """On a handler: every record it writes has its message masked (the arguments are merged
    into the message first, since the secret usually arrives as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RedactedJsonFormatter(JsonFormatter):
    """The JSON log line, masked as a whole: extra fields (Django's `request`, whose text holds
    the path) are written too, so the message alone is not enough."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
