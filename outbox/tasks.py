"""Celery drives the queue: a wake-up on commit and a sweep every minute from beat."""

from celery import shared_task

from outbox.services import outbox_drain

DRAIN_BUDGET = 1000


@shared_task(acks_late=True, ignore_result=True)
def outbox_drain_task() -> int:
    """Drain a bounded batch (so one task never runs for ever); if work is left, hand the rest
    to a fresh task instead of waiting for the next sweep."""
    ran = outbox_drain(max_jobs=DRAIN_BUDGET)
    if ran >= DRAIN_BUDGET:
        outbox_drain_task.delay()
    return ran


@shared_task(ignore_result=True)
def celery_noop_baseline(counter_key: str) -> None:
    """The benchmark baseline: a no-op Celery task without the table (counts itself in Redis)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(counter_key)
