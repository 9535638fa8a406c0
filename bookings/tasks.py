"""Thin periodic tasks of the booking domain (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

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
