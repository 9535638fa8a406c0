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
from bookings.models import Appointment, AppointmentStatus, CancelledBy, EventKind, RescheduleStatus
from bookings.selectors import provider_appointments_by_ids
from bookings.services.common import (
    BookingNotAllowed,
    event,
    lock_appointment,
    lock_pending_request,
    release_appointment,
    release_request,
    retry_on_conflict,
    try_again,
)
from payments.services import payment_succeeded_for, refund_create
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
    request = lock_pending_request(appointment)
    if request is None:
        return
    request.status = RescheduleStatus.WITHDRAWN
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "updated_at"])
    release_request(request)


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
    if appointment.status == AppointmentStatus.CANCELLED:
        raise BookingNotAllowed("This appointment is already cancelled.")
    held_link = appointment.status == AppointmentStatus.HELD and appointment.booked_by_provider
    if appointment.status != AppointmentStatus.CONFIRMED and not (by == CancelledBy.PROVIDER and held_link):
        raise BookingNotAllowed("Only confirmed appointments can be cancelled.")
    if by == CancelledBy.CUSTOMER and appointment.start <= now:
        raise BookingNotAllowed("This appointment has already started; it can no longer be cancelled.")
    refund_minor = refund_owed(appointment, now, full=full_refund)
    if expected_refund_minor is not None and expected_refund_minor != refund_minor:
        raise RefundChanged(refund_minor)
    withdraw_pending_request(appointment, now)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_by = by
    appointment.cancel_reason = reason[:255]
    appointment.cancelled_at = now
    appointment.save(update_fields=["status", "cancelled_by", "cancel_reason", "cancelled_at", "updated_at"])
    release_appointment(appointment)
    event(appointment, EventKind.CANCELLED, actor=actor, now=now, by=by, reason=reason, refund_minor=refund_minor)
    notify.cancelled(appointment, by=by, refund_minor=refund_minor)
    payment = payment_succeeded_for(str(appointment.pk))
    if payment is not None and refund_minor > 0:
        refund_create(
            payment=payment,
            amount_minor=refund_minor,
            reason=f"Cancelled by {by}" + (f": {reason}" if reason else ""),
            idempotency_key=f"refund-cancel-{appointment.pk}",
        )
        event(appointment, EventKind.REFUNDED, actor=actor, now=now, amount_minor=refund_minor)
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


def appointments_cancel_bulk(
    *, provider: Provider, ids: list[str], reason: str = "", now: datetime | None = None
) -> list[BulkResult]:
    """Cancel several of the provider's appointments (100 % refunds, customers notified).

    Each id is handled on its own, so one bad id does not block the others; repeating the call
    changes nothing. Ids that are not this provider's answer "not found", exactly like ids that
    do not exist, so nothing about other providers leaks.
    """
    now = now or timezone.now()
    results: list[BulkResult] = []
    for raw, appointment in provider_appointments_by_ids(provider=provider, ids=ids).items():
        if appointment is None:
            results.append(BulkResult(raw, "not found"))
        elif appointment.status == AppointmentStatus.CANCELLED:
            results.append(BulkResult(raw, "already cancelled", appointment))
        elif not appointment.cancellable_by_provider(now):
            outcome = "in the past" if appointment.start <= now else "not cancellable"
            results.append(BulkResult(raw, outcome, appointment))
        else:
            try:
                # The service locks the row and checks again: a cancel that raced us answers here.
                appointment_cancel_by_provider(appointment=appointment, provider=provider, reason=reason, now=now)
                results.append(BulkResult(raw, "cancelled", appointment))
            except BookingNotAllowed:
                results.append(BulkResult(raw, "already cancelled", appointment))
            except DomainError:
                results.append(BulkResult(raw, "not cancellable", appointment))
    return results
