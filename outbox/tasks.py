"""Celery drives the queue: a wake-up on commit and a sweep every minute from beat."""

from celery import shared_task

from outbox.services import outbox_drain


@shared_task(acks_late=True, ignore_result=True)
def outbox_drain_task() -> int:
    return outbox_drain()
