"""Attendance: the provider marks a started appointment attended or a no-show (and may correct
it either way). The appointment keeps its claim: the time was used."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from bookings.models import Appointment, AppointmentStatus, EventKind
from bookings.services.common import BookingNotAllowed, event, lock_appointment, retry_on_conflict, try_again
from providers.models import Provider


@retry_on_conflict(try_again)
@transaction.atomic
def appointment_mark_attendance(
    *, appointment: Appointment, provider: Provider, attended: bool, now: datetime | None = None
) -> Appointment:
    now = now or timezone.now()
    if appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    locked = lock_appointment(appointment.pk)
    allowed = (AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)
    if locked.status not in allowed:
        raise BookingNotAllowed("Only confirmed appointments can be marked.")
    if locked.start > now:
        raise BookingNotAllowed("This appointment has not started yet.")
    new = AppointmentStatus.COMPLETED if attended else AppointmentStatus.NO_SHOW
    if locked.status != new:
        locked.status = new
        locked.save(update_fields=["status", "updated_at"])
        event(locked, EventKind.CHECKED_IN if attended else EventKind.NO_SHOW, actor=provider.user, now=now)
    return locked
