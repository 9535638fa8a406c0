"""Job kinds and their handlers. Each app registers its own (in its `jobs.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any]], None]
DeadHook = Callable[[dict[str, Any], str], None]


class RetryLater(Exception):
    """Raise from a handler to retry after `seconds` (e.g. a Retry-After header)."""

    def __init__(self, message: str, *, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class PermanentFailure(Exception):
    """Raise from a handler when retrying cannot help: the job goes straight to dead letter."""


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int
    on_dead: DeadHook | None


_KINDS: dict[str, JobKind] = {}


def register(name: str, *, max_attempts: int = 8, on_dead: DeadHook | None = None) -> Callable[[Handler], Handler]:
    """`@register("payments.refund_execute")` on an idempotent function taking the payload."""

    def decorator(handler: Handler) -> Handler:
        _KINDS[name] = JobKind(name, handler, max_attempts, on_dead)
        return handler

    return decorator


def kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise PermanentFailure(f"no handler registered for job kind {name!r}") from None


def known_kinds() -> list[str]:
    return sorted(_KINDS)
