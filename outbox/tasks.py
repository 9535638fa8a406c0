"""Celery drives the queue: a wake-up on commit and a sweep every minute from beat."""

from celery import shared_task

from outbox.services import outbox_drain


@shared_task(acks_late=True, ignore_result=True)
def outbox_drain_task() -> int:
    return outbox_drain()


@shared_task(ignore_result=True)
def celery_noop_baseline(counter_key: str) -> None:
    """The benchmark baseline: a no-op Celery task without the table (counts itself in Redis)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(counter_key)
