"""gunicorn reads this file from the working directory: its access log masks the check-in code
and sign-in challenge ids in request lines and referrers (appointly/redaction.py)."""

from typing import Any

from gunicorn.glogging import Logger

from appointly.redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # Every atom: the request line, path, query, referrer, and the raw environ entries.
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = RedactingLogger
