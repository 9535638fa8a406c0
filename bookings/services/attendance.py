"""Attendance: the customer checks in with the provider's QR code, the provider marks a started
appointment attended or a no-show (and may correct it either way), and a periodic job marks
no-shows for providers who switched that on. The appointment keeps its claim: the time was used.
The rules are in bookings/attendance.py."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bookings.attendance import Answer, CheckIn, check_in_candidates, check_in_decide, no_shows_due
from bookings.models import (
    MARKABLE_STATUSES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    EventKind,
    RescheduleRequest,
    RescheduleStatus,
)
from bookings.services.common import BookingNotAllowed, event, lock_appointment, retry_on_conflict, try_again
from bookings.services.reschedule import close_request
from providers.models import Provider

NO_SHOW_BATCH = 500


def _close_pending_request(appointment: Appointment, status: str, kind: str, actor: User | None, now: datetime) -> None:
    """An appointment that was attended (or missed) at its time no longer moves: a request to
    move it that is still waiting ends, and the time it held is free again."""
    pending = RescheduleRequest.objects.filter(appointment=appointment, status=RescheduleStatus.PENDING)
    for request_id in pending.values_list("pk", flat=True):
        close_request(request_id, status, kind, actor, now)


@retry_on_conflict(try_again)
@transaction.atomic
def appointment_mark_attendance(
    *, appointment: Appointment, provider: Provider, attended: bool, now: datetime | None = None
) -> Appointment:
    now = now or timezone.now()
    if appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    locked = lock_appointment(appointment.pk)
    if not locked.attendance_markable(now):
        if locked.status in MARKABLE_STATUSES:
            raise BookingNotAllowed("This appointment has not started yet.")
        raise BookingNotAllowed("Only confirmed appointments can be marked.")
    new = AppointmentStatus.COMPLETED if attended else AppointmentStatus.NO_SHOW
    if locked.status != new:
        locked.status = new
        locked.checked_in_at = now if attended else None
        locked.save(update_fields=["status", "checked_in_at", "updated_at"])
        event(
            locked,
            EventKind.CHECKED_IN if attended else EventKind.NO_SHOW,
            actor=provider.user,
            now=now,
            via="provider",
        )
        # It has started: a request to move it lapsed (the expiry job would close it shortly).
        _close_pending_request(locked, RescheduleStatus.EXPIRED, EventKind.RESCHEDULE_EXPIRED, None, now)
    return locked


@retry_on_conflict(try_again)
@transaction.atomic
def appointment_check_in(*, customer: User, provider: Provider, now: datetime | None = None) -> CheckIn:
    """A customer scanned `provider`'s code: check in the appointment whose window is open (the
    one in progress first), or say why not. The customer's appointments with this provider
    today are locked while deciding, so a double scan (two taps, two phones) checks in once and
    the second answers "already checked in"."""
    now = now or timezone.now()
    candidates = list(
        check_in_candidates(customer=customer, provider=provider, now=now).select_for_update(of=("self",))
    )
    decided = check_in_decide(candidates, now)
    if decided.answer is not Answer.READY or decided.appointment is None:
        return decided
    appointment = decided.appointment
    appointment.status = AppointmentStatus.COMPLETED
    appointment.checked_in_at = now
    appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
    event(appointment, EventKind.CHECKED_IN, actor=customer, now=now, via="qr")
    # The customer came at this time: their request to move it is withdrawn.
    _close_pending_request(appointment, RescheduleStatus.WITHDRAWN, EventKind.RESCHEDULE_WITHDRAWN, customer, now)
    return CheckIn(Answer.CHECKED_IN, appointment, decided.next_one)


@transaction.atomic
def no_shows_mark(*, now: datetime | None = None) -> int:
    """Mark the due no-shows (bookings.attendance.no_shows_due) in one set-based pass, each with
    its event (no actor: the platform did it). Rows another transaction holds are left for the
    next run. Returns how many were marked."""
    now = now or timezone.now()
    due = list(
        no_shows_due(now=now)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
        .values_list("pk", "provider_id")[:NO_SHOW_BATCH]
    )
    if not due:
        return 0
    Appointment.objects.filter(pk__in=[pk for pk, _ in due]).update(status=AppointmentStatus.NO_SHOW, updated_at=now)
    AppointmentEvent.objects.bulk_create(
        AppointmentEvent(
            appointment_id=pk,
            provider_id=provider_id,
            kind=EventKind.NO_SHOW,
            at=now,
            actor=None,
            data={"via": "automatic"},
        )
        for pk, provider_id in due
    )
    return len(due)
