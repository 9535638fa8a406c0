"""Queue handlers of the booking domain. Beat only enqueues them (one job per period, by key);
the queue runs, retries and records them."""

from __future__ import annotations

from typing import Any

from outbox.registry import register


@register("bookings.no_shows_mark", max_attempts=3)
def no_shows_mark_job(payload: dict[str, Any]) -> None:
    from bookings.services import no_shows_mark

    # A pass marks at most a batch; the next period's job takes the rest.
    no_shows_mark()
