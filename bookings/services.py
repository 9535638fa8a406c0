"""Writes of the booking domain: hold, pay, confirm, cancel, reschedule, expire.

Lock order, everywhere: appointment row, then slot rows ordered by pk. Gateway calls happen
outside transactions. Every state change appends an AppointmentEvent in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from appointly.core import DomainError
from bookings import notify
from bookings.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    CancelledBy,
    EventKind,
    RescheduleRequest,
    RescheduleStatus,
)
from bookings.selectors import provider_appointments_by_ids
from payments.models import Payment, PaymentStatus
from payments.services import payment_charge, payment_succeeded_for, refund_create
from providers.models import Provider, Service, Slot, SlotStatus

logger = logging.getLogger(__name__)


class SlotUnavailable(DomainError):
    """The slot was just taken (or overlaps another booking of the provider)."""


class BookingNotAllowed(DomainError):
    """The request breaks a booking rule; the message says which."""


class HoldExpired(DomainError):
    """The hold ran out before payment completed."""


# --- helpers ----------------------------------------------------------------------------------


def _event(
    appointment: Appointment, kind: str, *, actor: User | None = None, now: datetime | None = None, **data: Any
) -> None:
    AppointmentEvent.objects.create(
        appointment=appointment, kind=kind, at=now or timezone.now(), actor=actor, data=data
    )


def _lock_appointment(appointment_id: Any) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("service", "provider", "customer")
        .get(pk=appointment_id)
    )


def _lock_slots(*slot_ids: Any) -> dict[Any, Slot]:
    """Lock slot rows in pk order (no deadlocks between two lockers of the same pair)."""
    slots = Slot.objects.select_for_update(of=("self",)).select_related("service").filter(pk__in=slot_ids)
    return {s.pk: s for s in slots.order_by("pk")}


def _set_slot(slot: Slot, status: str) -> None:
    slot.status = status
    slot.save(update_fields=["status"])


def _provider_busy(provider_id: Any, start: datetime, end: datetime, *, exclude: Any = None) -> bool:
    """An active appointment of the provider, or a time held for a reschedule request,
    overlaps [start, end). PostgreSQL also enforces the appointment part with the exclusion
    constraint; on SQLite the IMMEDIATE transaction makes this check race-free."""
    qs = Appointment.objects.filter(provider_id=provider_id, status__in=ACTIVE_STATUSES, start__lt=end, end__gt=start)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    # A time held for a pending reschedule request is taken too.
    held = RescheduleRequest.objects.filter(
        status=RescheduleStatus.PENDING,
        new_slot__provider_id=provider_id,
        new_slot__start__lt=end,
        new_slot__end__gt=start,
    )
    if exclude is not None:
        held = held.exclude(appointment_id=exclude)
    return qs.exists() or held.exists()


def _check_bookable(slot: Slot, now: datetime) -> None:
    service = slot.service
    if not service.is_active:
        raise BookingNotAllowed("This service is not offered any more.")
    if slot.start <= now:
        raise BookingNotAllowed("This time is in the past. Please pick another one.")
    if slot.start < now + timedelta(minutes=service.min_notice_minutes):
        raise BookingNotAllowed(
            f"{service.provider.business_name} needs at least {service.min_notice_minutes} minutes' notice. "
            "Please pick a later time."
        )


# --- booking ----------------------------------------------------------------------------------


def appointment_hold(*, customer: User, slot_id: Any, idempotency_key: str, now: datetime | None = None) -> Appointment:
    """Hold a free slot for the customer while they pay. Idempotent by key."""
    now = now or timezone.now()
    existing = Appointment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.customer_id != customer.pk:
            raise BookingNotAllowed("This booking form is not yours. Please start again.")
        return existing
    if customer.role != Role.CUSTOMER:
        raise BookingNotAllowed("Provider accounts cannot book appointments. Log in as a customer.")
    try:
        with transaction.atomic():
            slots = _lock_slots(slot_id)
            slot = slots.get(_as_uuid(slot_id))
            if slot is None:
                raise SlotUnavailable("This time does not exist any more.")
            slot.service.provider  # noqa: B018 - loaded for messages
            _check_bookable(slot, now)
            if slot.status != SlotStatus.FREE or _provider_busy(slot.provider_id, slot.start, slot.end):
                raise SlotUnavailable("This time was just taken.")
            service: Service = slot.service
            hold_until = now + timedelta(minutes=settings.BOOKING_HOLD_MINUTES)
            appointment = Appointment.objects.create(
                customer=customer,
                provider_id=slot.provider_id,
                service=service,
                slot=slot,
                start=slot.start,
                end=slot.end,
                status=AppointmentStatus.HELD,
                hold_expires_at=hold_until,
                price_minor=service.price_minor,
                currency=service.currency,
                idempotency_key=idempotency_key,
            )
            _set_slot(slot, SlotStatus.HELD)
            _event(appointment, EventKind.CREATED, actor=customer, now=now)
            _event(appointment, EventKind.HELD, actor=customer, now=now, until=hold_until.isoformat())
    except IntegrityError as exc:
        # Lost a race the database decided (same key, same slot, or an overlapping booking).
        existing = Appointment.objects.filter(idempotency_key=idempotency_key, customer=customer).first()
        if existing is not None:
            return existing
        raise SlotUnavailable("This time was just taken.") from exc
    return appointment


def _as_uuid(value: Any) -> Any:
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@dataclass(frozen=True)
class PaymentOutcome:
    appointment: Appointment
    payment: Payment

    @property
    def succeeded(self) -> bool:
        return self.appointment.status == AppointmentStatus.CONFIRMED


def appointment_pay(
    *, appointment: Appointment, customer: User, card_number: str, payment_key: str, now: datetime | None = None
) -> PaymentOutcome:
    """Charge the held appointment's price and confirm it. Never charges twice."""
    now = now or timezone.now()
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This booking is not yours.")
    if appointment.status == AppointmentStatus.CONFIRMED:
        paid = payment_succeeded_for(str(appointment.pk))
        if paid is not None:
            return PaymentOutcome(appointment, paid)
    if appointment.status != AppointmentStatus.HELD:
        raise HoldExpired("This booking is no longer waiting for payment.")
    if appointment.hold_expires_at is not None and appointment.hold_expires_at <= now:
        raise HoldExpired("Your hold on this time ran out before payment. Please pick the time again.")

    payment = payment_charge(
        reference=str(appointment.pk),
        customer=customer,
        amount_minor=appointment.price_minor,
        currency=appointment.currency,
        card_number=card_number,
        idempotency_key=payment_key,
        payee=str(appointment.provider_id),
    )
    with transaction.atomic():
        locked = _lock_appointment(appointment.pk)
        if payment.status != PaymentStatus.SUCCEEDED:
            _event(locked, EventKind.PAYMENT_FAILED, actor=customer, message=payment.failure_message)
            return PaymentOutcome(locked, payment)
        if locked.status == AppointmentStatus.CONFIRMED:
            return PaymentOutcome(locked, payment)
        if locked.status != AppointmentStatus.HELD:
            # The hold lapsed while the card was charged: give the money back at once.
            refund_create(
                payment=payment,
                amount_minor=payment.amount_minor,
                reason="Hold expired before the payment completed",
                idempotency_key=f"refund-late-{payment.pk}",
            )
            raise HoldExpired("Your hold ran out while paying; the payment will be refunded in full.")
        locked.status = AppointmentStatus.CONFIRMED
        locked.hold_expires_at = None
        locked.save(update_fields=["status", "hold_expires_at", "updated_at"])
        slot = _lock_slots(locked.slot_id)[locked.slot_id]
        _set_slot(slot, SlotStatus.BOOKED)
        _event(locked, EventKind.PAID, actor=customer, amount_minor=payment.amount_minor, currency=payment.currency)
        _event(locked, EventKind.CONFIRMED, actor=customer)
        notify.booked(locked)
    return PaymentOutcome(locked, payment)


def holds_expire(*, now: datetime | None = None) -> int:
    """Release every unpaid hold past its time (beat task). Holds with a payment in flight wait."""
    now = now or timezone.now()
    due = list(
        Appointment.objects.filter(status=AppointmentStatus.HELD, hold_expires_at__lte=now).values_list("pk", flat=True)
    )
    released = 0
    for pk in due:
        with transaction.atomic():
            appointment = (
                Appointment.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, status=AppointmentStatus.HELD, hold_expires_at__lte=now)
                .first()
            )
            if appointment is None:
                continue
            if Payment.objects.filter(reference=str(pk), status=PaymentStatus.PENDING).exists():
                continue
            appointment.status = AppointmentStatus.EXPIRED
            appointment.save(update_fields=["status", "updated_at"])
            slot = _lock_slots(appointment.slot_id)[appointment.slot_id]
            if slot.status == SlotStatus.HELD:
                _set_slot(slot, SlotStatus.FREE)
            _event(appointment, EventKind.HOLD_EXPIRED, now=now)
            released += 1
    return released


# --- cancellation -----------------------------------------------------------------------------


def refund_for_customer_cancel(appointment: Appointment, now: datetime) -> int:
    """Refund in minor units under the service's policy (default ≥24 h 100 %, 2–24 h 50 %, else 0)."""
    service = appointment.service
    before = appointment.start - now
    if before >= timedelta(hours=service.refund_full_hours):
        return appointment.price_minor
    if before >= timedelta(hours=service.refund_partial_hours):
        return appointment.price_minor * service.refund_partial_percent // 100
    return 0


def _withdraw_pending_reschedule(appointment: Appointment, now: datetime) -> None:
    request = (
        RescheduleRequest.objects.select_for_update()
        .filter(appointment=appointment, status=RescheduleStatus.PENDING)
        .first()
    )
    if request is None:
        return
    request.status = RescheduleStatus.WITHDRAWN
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "updated_at"])
    slot = _lock_slots(request.new_slot_id)[request.new_slot_id]
    if slot.status == SlotStatus.HELD:
        _set_slot(slot, SlotStatus.FREE)


@transaction.atomic
def _cancel(
    *, appointment_id: Any, by: str, actor: User | None, reason: str, full_refund: bool, now: datetime
) -> Appointment:
    appointment = _lock_appointment(appointment_id)
    if appointment.status == AppointmentStatus.CANCELLED:
        raise BookingNotAllowed("This appointment is already cancelled.")
    if appointment.status != AppointmentStatus.CONFIRMED:
        raise BookingNotAllowed("Only confirmed appointments can be cancelled.")
    if by == CancelledBy.CUSTOMER and appointment.start <= now:
        raise BookingNotAllowed("This appointment has already started; it can no longer be cancelled.")
    refund_minor = appointment.price_minor if full_refund else refund_for_customer_cancel(appointment, now)
    _withdraw_pending_reschedule(appointment, now)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_by = by
    appointment.cancel_reason = reason[:255]
    appointment.cancelled_at = now
    appointment.save(update_fields=["status", "cancelled_by", "cancel_reason", "cancelled_at", "updated_at"])
    slot = _lock_slots(appointment.slot_id)[appointment.slot_id]
    if appointment.start > now:
        _set_slot(slot, SlotStatus.FREE)
    _event(appointment, EventKind.CANCELLED, actor=actor, now=now, by=by, reason=reason, refund_minor=refund_minor)
    notify.cancelled(appointment, by=by, refund_minor=refund_minor)
    payment = payment_succeeded_for(str(appointment.pk))
    if payment is not None and refund_minor > 0:
        refund_create(
            payment=payment,
            amount_minor=refund_minor,
            reason=f"Cancelled by {by}" + (f": {reason}" if reason else ""),
            idempotency_key=f"refund-cancel-{appointment.pk}",
        )
        _event(appointment, EventKind.REFUNDED, actor=actor, now=now, amount_minor=refund_minor)
    return appointment


def appointment_cancel_by_customer(
    *, appointment: Appointment, customer: User, now: datetime | None = None
) -> Appointment:
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    return _cancel(
        appointment_id=appointment.pk,
        by=CancelledBy.CUSTOMER,
        actor=customer,
        reason="",
        full_refund=False,
        now=now or timezone.now(),
    )


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


# --- rescheduling -----------------------------------------------------------------------------


def reschedule_request(
    *, appointment: Appointment, customer: User, new_slot_id: Any, now: datetime | None = None
) -> RescheduleRequest:
    """Ask the provider to move the appointment to another free slot of the same service;
    the new slot is held for the request."""
    now = now or timezone.now()
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    try:
        with transaction.atomic():
            locked = _lock_appointment(appointment.pk)
            if locked.status != AppointmentStatus.CONFIRMED:
                raise BookingNotAllowed("Only confirmed appointments can be rescheduled.")
            if locked.start <= now:
                raise BookingNotAllowed("This appointment has already started.")
            if RescheduleRequest.objects.filter(appointment=locked, status=RescheduleStatus.PENDING).exists():
                raise BookingNotAllowed("A reschedule request is already waiting for the provider.")
            slot = _lock_slots(new_slot_id).get(_as_uuid(new_slot_id))
            if slot is None or slot.service_id != locked.service_id:
                raise BookingNotAllowed("Pick a new time of the same service.")
            _check_bookable(slot, now)
            if slot.status != SlotStatus.FREE or _provider_busy(
                slot.provider_id, slot.start, slot.end, exclude=locked.pk
            ):
                raise SlotUnavailable("This time was just taken.")
            request = RescheduleRequest.objects.create(appointment=locked, new_slot=slot, expires_at=locked.start)
            _set_slot(slot, SlotStatus.HELD)
            _event(
                locked,
                EventKind.RESCHEDULE_REQUESTED,
                actor=customer,
                now=now,
                new_start=slot.start.isoformat(),
                request=str(request.pk),
            )
            notify.reschedule_requested(locked, request_id=request.pk, new_start=slot.start)
    except IntegrityError as exc:
        raise SlotUnavailable("This time was just taken.") from exc
    return request


def reschedule_accept(*, request: RescheduleRequest, provider: Provider, now: datetime | None = None) -> Appointment:
    """Move the appointment to the requested slot atomically: old slot freed, new one booked."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            appointment = _lock_appointment(request.appointment_id)
            if appointment.provider_id != provider.pk:
                raise BookingNotAllowed("This request is not for you.")
            locked_request = RescheduleRequest.objects.select_for_update().get(pk=request.pk)
            if locked_request.status != RescheduleStatus.PENDING:
                raise BookingNotAllowed("This request was already answered.")
            if locked_request.expires_at <= now or appointment.status != AppointmentStatus.CONFIRMED:
                raise BookingNotAllowed("This request has expired.")
            slots = _lock_slots(appointment.slot_id, locked_request.new_slot_id)
            old, new = slots[appointment.slot_id], slots[locked_request.new_slot_id]
            if new.status != SlotStatus.HELD or _provider_busy(
                new.provider_id, new.start, new.end, exclude=appointment.pk
            ):
                raise SlotUnavailable("The requested time is no longer available.")
            old_start = appointment.start
            appointment.slot = new
            appointment.start, appointment.end = new.start, new.end
            appointment.save(update_fields=["slot", "start", "end", "updated_at"])
            _set_slot(old, SlotStatus.FREE)
            _set_slot(new, SlotStatus.BOOKED)
            locked_request.status = RescheduleStatus.ACCEPTED
            locked_request.decided_at = now
            locked_request.save(update_fields=["status", "decided_at", "updated_at"])
            _event(
                appointment,
                EventKind.RESCHEDULE_ACCEPTED,
                actor=provider.user,
                now=now,
                old_start=old_start.isoformat(),
                new_start=new.start.isoformat(),
            )
            notify.reschedule_answered(appointment, request_id=locked_request.pk, accepted=True, new_start=new.start)
    except IntegrityError as exc:
        raise SlotUnavailable("The requested time is no longer available.") from exc
    return appointment


def _close_request(request_id: Any, status: str, kind: str, actor: User | None, now: datetime) -> bool:
    request = RescheduleRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or request.status != RescheduleStatus.PENDING:
        return False
    request.status = status
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "updated_at"])
    slot = _lock_slots(request.new_slot_id)[request.new_slot_id]
    if slot.status == SlotStatus.HELD:
        _set_slot(slot, SlotStatus.FREE)
    _event(request.appointment, kind, actor=actor, now=now, new_start=slot.start.isoformat())
    if status == RescheduleStatus.DECLINED:
        notify.reschedule_answered(request.appointment, request_id=request.pk, accepted=False, new_start=slot.start)
    return True


@transaction.atomic
def reschedule_decline(*, request: RescheduleRequest, provider: Provider, now: datetime | None = None) -> None:
    _lock_appointment(request.appointment_id)
    if request.appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This request is not for you.")
    if not _close_request(
        request.pk, RescheduleStatus.DECLINED, EventKind.RESCHEDULE_DECLINED, provider.user, now or timezone.now()
    ):
        raise BookingNotAllowed("This request was already answered.")


def reschedules_expire(*, now: datetime | None = None) -> int:
    """Requests the provider did not answer before the appointment started lapse (beat task)."""
    now = now or timezone.now()
    expired = 0
    for request in RescheduleRequest.objects.filter(status=RescheduleStatus.PENDING, expires_at__lte=now):
        with transaction.atomic():
            _lock_appointment(request.appointment_id)
            if _close_request(request.pk, RescheduleStatus.EXPIRED, EventKind.RESCHEDULE_EXPIRED, None, now):
                expired += 1
    return expired


# --- provider actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkResult:
    id: str
    outcome: str  # "cancelled" | "already cancelled" | "in the past" | "not found"


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
            results.append(BulkResult(raw, "already cancelled"))
        elif not appointment.cancellable_by_provider(now):
            results.append(BulkResult(raw, "in the past" if appointment.start <= now else "not cancellable"))
        else:
            try:
                # The service locks the row and checks again: a cancel that raced us answers here.
                appointment_cancel_by_provider(appointment=appointment, provider=provider, reason=reason, now=now)
                results.append(BulkResult(raw, "cancelled"))
            except BookingNotAllowed:
                results.append(BulkResult(raw, "already cancelled"))
    return results


@transaction.atomic
def appointment_mark_attendance(
    *, appointment: Appointment, provider: Provider, attended: bool, now: datetime | None = None
) -> Appointment:
    """The provider marks a confirmed appointment that has started as attended or no-show
    (and may correct it either way)."""
    now = now or timezone.now()
    if appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    locked = _lock_appointment(appointment.pk)
    allowed = (AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)
    if locked.status not in allowed:
        raise BookingNotAllowed("Only confirmed appointments can be marked.")
    if locked.start > now:
        raise BookingNotAllowed("This appointment has not started yet.")
    new = AppointmentStatus.COMPLETED if attended else AppointmentStatus.NO_SHOW
    if locked.status != new:
        locked.status = new
        locked.save(update_fields=["status", "updated_at"])
        _event(locked, EventKind.CHECKED_IN if attended else EventKind.NO_SHOW, actor=provider.user, now=now)
    return locked
