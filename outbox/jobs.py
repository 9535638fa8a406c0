"""The queue's own job kind: a probe that records each run (end-to-end checks, fault tests,
benchmarks)."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from outbox.models import ProbeRecord
from outbox.registry import register


@register("outbox.probe")
def probe(payload: dict[str, Any]) -> None:
    """Record that this job ran; `work_ms` simulates a handler that takes time."""
    if payload.get("work_ms"):
        time.sleep(min(float(payload["work_ms"]), 5000) / 1000)
    ProbeRecord.objects.create(key=str(payload["key"]), at=timezone.now())


@register("outbox.noop")
def noop(payload: dict[str, Any]) -> None:
    """Does nothing: measures the queue's own cost (benchmarks/queue.py)."""
