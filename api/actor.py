"""Who is acting, beyond the signed-in person: set around an API or MCP call, read by the one
place that writes appointment events, so every change an agent makes says so ("via": "agent",
the token's name)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_acting: ContextVar[dict[str, Any] | None] = ContextVar("acting", default=None)


@contextmanager
def acting_as(**data: Any) -> Iterator[None]:
    token = _acting.set(data)
    try:
        yield
    finally:
        _acting.reset(token)


def acting() -> dict[str, Any]:
    return dict(_acting.get() or {})
