"""Thin periodic tasks of the providers domain (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from providers.services import slots_topup


@shared_task(acks_late=True)
def slots_topup_task() -> int:
    """Keep every active service's booking window full of slots. Idempotent."""
    return slots_topup()


@shared_task(acks_late=True)
def login_challenges_purge_task() -> int:
    """Delete expired provider sign-in code sessions."""
    from providers.login_codes import login_challenges_purge

    return login_challenges_purge()
