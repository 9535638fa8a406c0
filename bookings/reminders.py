"""Reminders before appointments, found in the database by a periodic task (no far-future ETA
tasks on the broker). The message key names the appointment, the offset and the start, so each
reminder goes once, a moved appointment gets fresh ones and a cancelled one gets none."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bookings import notify
from bookings.models import Appointment, AppointmentStatus


def reminder_offsets() -> list[timedelta]:
    return sorted((timedelta(minutes=m) for m in settings.REMINDER_OFFSETS_MINUTES), reverse=True)


def reminders_send(*, now: datetime | None = None) -> int:
    """Queue every reminder whose time has come. An offset is due from `start - offset` until
    the next shorter reminder takes over (so a late run never sends a stale "tomorrow")."""
    now = now or timezone.now()
    offsets = reminder_offsets()
    sent = 0
    for i, offset in enumerate(offsets):
        until = offsets[i + 1] if i + 1 < len(offsets) else timedelta(0)
        due = Appointment.objects.filter(
            status=AppointmentStatus.CONFIRMED, start__lte=now + offset, start__gt=now + until
        ).select_related("service", "provider", "customer")
        for appointment in due:
            with transaction.atomic():
                sent += notify.reminder(appointment, offset=offset)
    return sent
