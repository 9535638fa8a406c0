from __future__ import annotations

from typing import Any

from notifications.services import SEND_JOB, message_dead, message_send
from outbox.registry import register


def _on_dead(payload: dict[str, Any], error: str) -> None:
    message_dead(message_id=payload["message_id"], error=error)


@register(SEND_JOB, max_attempts=6, on_dead=_on_dead)
def send_job(payload: dict[str, Any]) -> None:
    message_send(message_id=payload["message_id"])
