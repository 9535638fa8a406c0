"""Secrets that travel in URLs, masked before a line is logged: the check-in code in
`/mark?id=...` (printed on a poster, but whoever reads the logs must not be able to check in for
anyone) and the provider sign-in challenge id in `/auth/<id>`. Used by the logging filter below
(Django's request and runserver logs) and by gunicorn's access log (gunicorn.conf.py)."""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"((?:^|[?&])id=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(/auth/)[^/\s\"'?]+"), r"\1[redacted]"),
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
