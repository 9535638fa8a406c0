"""Thin periodic tasks of the booking domain (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from bookings.services import holds_expire, reschedules_expire


@shared_task(acks_late=True)
def holds_expire_task() -> int:
    return holds_expire()


@shared_task(acks_late=True)
def reschedules_expire_task() -> int:
    return reschedules_expire()


@shared_task(acks_late=True)
def reminders_send_task() -> int:
    from bookings.reminders import reminders_send

    return reminders_send()
