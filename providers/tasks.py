"""Periodic schedules (settings.CELERY_BEAT_SCHEDULE) only put jobs on the durable queue; the
queue runs them, with retries and a record of every run."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from outbox.services import job_enqueue


def _enqueue_periodic(kind: str, period: str) -> None:
    # One job per period: a beat that fires twice (restart, two beats) adds nothing.
    with transaction.atomic():
        job_enqueue(kind_name=kind, payload={}, idempotency_key=f"{kind}:{period}")


@shared_task(acks_late=True)
def slots_topup_task() -> None:
    """Keep every active service's booking window full of slots (hourly, idempotent)."""
    _enqueue_periodic("providers.slots_topup", timezone.now().strftime("%Y-%m-%dT%H"))


@shared_task(acks_late=True)
def login_challenges_purge_task() -> None:
    """Delete expired provider sign-in code sessions (every 10 minutes)."""
    now = timezone.now()
    _enqueue_periodic("providers.login_challenges_purge", f"{now:%Y-%m-%dT%H}:{now.minute // 10}")
