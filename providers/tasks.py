"""Periodic schedules (settings.CELERY_BEAT_SCHEDULE) only put jobs on the durable queue; the
queue runs them, with retries and a record of every run."""

from celery import shared_task
from django.utils import timezone

from outbox.services import job_enqueue_periodic


@shared_task(acks_late=True)
def slots_topup_task() -> None:
    """Keep every active service's booking window full of slots (hourly, idempotent)."""
    job_enqueue_periodic(kind_name="providers.slots_topup", period=timezone.now().strftime("%Y-%m-%dT%H"))


@shared_task(acks_late=True)
def login_challenges_purge_task() -> None:
    """Delete expired provider sign-in code sessions (every 10 minutes)."""
    now = timezone.now()
    job_enqueue_periodic(kind_name="providers.login_challenges_purge", period=f"{now:%Y-%m-%dT%H}:{now.minute // 10}")
