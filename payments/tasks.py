"""Thin periodic tasks of the payments domain (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True)
def reconcile_task() -> None:
    """Queue the daily reconciliation (one job per day, whatever beat does)."""
    from outbox.services import job_enqueue_periodic

    job_enqueue_periodic(kind_name="payments.reconcile", period=f"{timezone.now():%Y-%m-%d}")


@shared_task(acks_late=True)
def payouts_task() -> None:
    """Queue the daily payout run (one job per day, whatever beat does)."""
    from outbox.services import job_enqueue_periodic

    job_enqueue_periodic(kind_name="payments.payouts_create", period=f"{timezone.now():%Y-%m-%d}")
