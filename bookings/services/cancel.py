"""Cancellation and refunds: by the customer under the policy copied at booking, by the
provider always in full, one or many at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from appointly.core import DomainError
from appointly.telemetry import BOOKINGS, traced
from bookings import notify
from bookings.models import (
    Appointment,
    AppointmentStatus,
    CancelledBy,
    EventKind,
    RescheduleRequest,
    RescheduleStatus,
    TimeClaim,
)
from bookings.selectors import provider_appointments_by_ids
from bookings.services.common import (
    BookingNotAllowed,
    events_of_many,
    lock_appointment,
    retry_on_conflict,
    try_again,
)
from notifications.services import notify_all
from payments.services import RefundAsked, payments_succeeded_for, refunds_create
from providers.models import Provider


class RefundChanged(DomainError):
    """The refund shown on the cancel page is no longer what cancelling now gives."""

    def __init__(self, refund_minor: int) -> None:
        super().__init__("The refund for cancelling has changed since you opened this page.")
        self.refund_minor = refund_minor


def refund_owed(appointment: Appointment, now: datetime, *, full: bool = False) -> int:
    """What goes back on cancelling, in minor units: all of it (a provider's cancellation, or
    the customer turning down a time the provider moved it to), or what the policy the
    appointment was booked with says; nothing when nothing was taken online (paid at the venue,
    free, or a hold not paid yet: `Appointment.paid_online_minor`)."""
    paid = appointment.paid_online_minor
    if full or appointment.moved_by_provider_at is not None or not paid:  # all of it (or nothing taken)
        return paid
    return appointment.refund_policy.refund_minor(price_minor=paid, start=appointment.start, now=now)


def refund_for_customer_cancel(appointment: Appointment, now: datetime) -> int:
    """Refund in minor units under the policy the appointment was booked with."""
    return refund_owed(appointment, now)


def withdraw_pending_request(appointment: Appointment, now: datetime) -> None:
    """Inside the appointment's lock: a pending reschedule request of it lapses with it."""
    withdraw_pending_requests([appointment.pk], now)


def withdraw_pending_requests(appointment_ids: list[Any], now: datetime) -> None:
    """`withdraw_pending_request` for several locked appointments: one query when none has a
    pending request, three otherwise."""
    requests = list(
        RescheduleRequest.objects.select_for_update()
        .filter(appointment_id__in=appointment_ids, status=RescheduleStatus.PENDING)
        .values_list("pk", flat=True)
    )
    if requests:
        RescheduleRequest.objects.filter(pk__in=requests).update(
            status=RescheduleStatus.WITHDRAWN, decided_at=now, updated_at=timezone.now()
        )
        TimeClaim.objects.filter(reschedule_id__in=requests).delete()


def _cancellable(appointment: Appointment, *, by: str, now: datetime) -> None:
    """Under the appointment's lock: may `by` cancel it now? (BookingNotAllowed says why not.)"""
    if appointment.status == AppointmentStatus.CANCELLED:
        raise BookingNotAllowed("This appointment is already cancelled.")
    held_link = appointment.status == AppointmentStatus.HELD and appointment.booked_by_provider
    if appointment.status != AppointmentStatus.CONFIRMED and not (by == CancelledBy.PROVIDER and held_link):
        raise BookingNotAllowed("Only confirmed appointments can be cancelled.")
    if by == CancelledBy.CUSTOMER and appointment.start <= now:
        raise BookingNotAllowed("This appointment has already started; it can no longer be cancelled.")


def _cancel_locked(
    cancelled: list[tuple[Appointment, int]], *, by: str, actor: User | None, reason: str, now: datetime
) -> None:
    """Cancel these appointments, each locked and allowed, with the refund each is owed: their
    pending requests lapse, their time is released, the refunds are queued, the events written
    and the other side told, in a fixed number of queries however many there are."""
    ids = [appointment.pk for appointment, _ in cancelled]
    withdraw_pending_requests(ids, now)
    reason = reason[:255]
    Appointment.objects.filter(pk__in=ids).update(
        status=AppointmentStatus.CANCELLED,
        cancelled_by=by,
        cancel_reason=reason,
        cancelled_at=now,
        updated_at=timezone.now(),
    )
    TimeClaim.objects.filter(appointment_id__in=ids).delete()
    paid = payments_succeeded_for([str(pk) for pk in ids])
    refunds: list[RefundAsked] = []
    written: list[tuple[Appointment, str, dict[str, Any]]] = []
    for appointment, refund_minor in cancelled:
        appointment.status, appointment.cancelled_by = AppointmentStatus.CANCELLED, by
        appointment.cancel_reason, appointment.cancelled_at = reason, now
        written.append((appointment, EventKind.CANCELLED, {"by": by, "reason": reason, "refund_minor": refund_minor}))
        payment = paid.get(str(appointment.pk))
        if payment is not None and refund_minor > 0:
            why = f"Cancelled by {by}" + (f": {reason}" if reason else "")
            refunds.append(RefundAsked(payment, refund_minor, why, f"refund-cancel-{appointment.pk}"))
            written.append((appointment, EventKind.REFUNDED, {"amount_minor": refund_minor}))
    if refunds:
        refunds_create(refunds)
    events_of_many(written, actor=actor, now=now)
    notify_all([notify.cancelled_notice(a, by=by, refund_minor=refund_minor) for a, refund_minor in cancelled])


@retry_on_conflict(try_again)
@transaction.atomic
def _cancel(
    *,
    appointment_id: Any,
    by: str,
    actor: User | None,
    reason: str,
    full_refund: bool,
    now: datetime,
    expected_refund_minor: int | None = None,
) -> Appointment:
    appointment = lock_appointment(appointment_id)
    _cancellable(appointment, by=by, now=now)
    refund_minor = refund_owed(appointment, now, full=full_refund)
    if expected_refund_minor is not None and expected_refund_minor != refund_minor:
        raise RefundChanged(refund_minor)
    _cancel_locked([(appointment, refund_minor)], by=by, actor=actor, reason=reason, now=now)
    return appointment


def _described(kwargs: dict[str, Any], result: Any) -> dict[str, Any]:
    return {
        "appointment.id": str(result.pk),
        "service.id": str(result.service_id),
        "provider.id": str(result.provider_id),
        "appointment.status": result.status,
    }


@traced("booking.cancel", _described, BOOKINGS)
def appointment_cancel_by_customer(
    *,
    appointment: Appointment,
    customer: User,
    expected_refund_minor: int | None = None,
    now: datetime | None = None,
) -> Appointment:
    """`expected_refund_minor`: what the cancel page showed; if cancelling now gives another
    amount (a tier boundary passed), nothing changes and RefundChanged carries the new one."""
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    return _cancel(
        appointment_id=appointment.pk,
        by=CancelledBy.CUSTOMER,
        actor=customer,
        reason="",
        full_refund=False,
        now=now or timezone.now(),
        expected_refund_minor=expected_refund_minor,
    )


@traced("booking.cancel", _described, BOOKINGS)
def appointment_cancel_by_provider(
    *, appointment: Appointment, provider: Provider, reason: str = "", now: datetime | None = None
) -> Appointment:
    """Provider cancellation always refunds 100 %."""
    if appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    return _cancel(
        appointment_id=appointment.pk,
        by=CancelledBy.PROVIDER,
        actor=provider.user,
        reason=reason,
        full_refund=True,
        now=now or timezone.now(),
    )


@dataclass(frozen=True)
class BulkResult:
    id: str
    outcome: str  # "cancelled" | "already cancelled" | "in the past" | "not cancellable" | "not found"
    # The provider's appointment the id named (None for "not found": nothing about others leaks).
    appointment: Appointment | None = None


@traced("booking.cancel_bulk", lambda kwargs, result: {"appointments.requested": len(result)}, BOOKINGS)
@retry_on_conflict(try_again)
@transaction.atomic
def appointments_cancel_bulk(
    *, provider: Provider, ids: list[str], reason: str = "", now: datetime | None = None
) -> list[BulkResult]:
    """Cancel several of the provider's appointments (100 % refunds, customers notified).

    Each id has its own outcome, so one bad id does not block the others; repeating the call
    changes nothing. Ids that are not this provider's answer "not found", exactly like ids that
    do not exist, so nothing about other providers leaks. Set-based: one read that locks all the
    rows (in id order, the lock order), the checks a cancel makes for each, then one write of
    each kind for all of them (`_cancel_locked`).
    """
    now = now or timezone.now()
    locking = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("service", "service__provider", "provider", "provider__user", "customer")
        .order_by("pk")
    )
    results: list[BulkResult] = []
    cancelled: list[tuple[Appointment, int]] = []
    for raw, appointment in provider_appointments_by_ids(provider=provider, ids=ids, rows=locking).items():
        if appointment is None:
            results.append(BulkResult(raw, "not found"))
        elif appointment.status == AppointmentStatus.CANCELLED:
            results.append(BulkResult(raw, "already cancelled", appointment))
        elif not appointment.cancellable_by_provider(now):  # implies what `_cancellable` asks of a provider
            outcome = "in the past" if appointment.start <= now else "not cancellable"
            results.append(BulkResult(raw, outcome, appointment))
        else:
            cancelled.append((appointment, refund_owed(appointment, now, full=True)))
            results.append(BulkResult(raw, "cancelled", appointment))
    if cancelled:
        _cancel_locked(cancelled, by=CancelledBy.PROVIDER, actor=provider.user, reason=reason, now=now)
    return results
