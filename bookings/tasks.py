"""Thin periodic tasks of the booking domain (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.utils import timezone

from bookings.services import holds_expire, payments_settle_stale, reschedules_expire


@shared_task(acks_late=True)
def holds_expire_task() -> int:
    # Payments cut off mid-way first: a charge that went through may still confirm its hold.
    payments_settle_stale()
    return holds_expire()


@shared_task(acks_late=True)
def reschedules_expire_task() -> int:
    return reschedules_expire()


@shared_task(acks_late=True)
def reminders_send_task() -> int:
    from bookings.reminders import reminders_send

    return reminders_send()


@shared_task(acks_late=True)
def no_shows_mark_task() -> None:
    """Queue the automatic no-show pass (every 5 minutes; one job per 5-minute period)."""
    from outbox.services import job_enqueue_periodic

    now = timezone.now()
    job_enqueue_periodic(kind_name="bookings.no_shows_mark", period=f"{now:%Y-%m-%dT%H}:{now.minute // 5}")
