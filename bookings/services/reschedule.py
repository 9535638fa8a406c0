"""Rescheduling: the customer asks for another bookable time of the same service (the time is
claimed for the request), the provider accepts (the appointment's claim moves there) or
declines; the customer may withdraw; unanswered requests lapse when the appointment starts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from bookings import availability, notify
from bookings.models import Appointment, AppointmentStatus, EventKind, RescheduleRequest, RescheduleStatus, TimeClaim
from bookings.services.common import (
    BookingNotAllowed,
    SlotUnavailable,
    claim_for_request,
    event,
    just_taken,
    lock_appointment,
    lock_provider,
    release_request,
    retry_on_conflict,
    try_again,
)
from providers.models import Provider, Slot


def _new_time(appointment: Appointment, slot_id: Any, now: datetime) -> Slot:
    """Inside the provider's and the appointment's locks: the offer to move it to, locked; a
    time of the same service, bookable when the appointment's own claim is set aside."""
    slot = Slot.objects.select_for_update(of=("self",)).filter(pk=slot_id).first()
    if slot is None:
        raise SlotUnavailable("This time is no longer offered.")
    if slot.service_id != appointment.service_id:
        raise BookingNotAllowed("Pick a new time of the same service.")
    availability.check_bookable(slot, appointment.service, now=now, ignoring=appointment)
    return slot


@retry_on_conflict(just_taken)
def reschedule_request(
    *, appointment: Appointment, customer: User, new_slot_id: Any, now: datetime | None = None
) -> RescheduleRequest:
    """Ask the provider to move the appointment to another bookable slot of the same service;
    the new time is claimed for the request until it is answered."""
    now = now or timezone.now()
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    try:
        with transaction.atomic():
            lock_provider(appointment.provider_id)
            locked = lock_appointment(appointment.pk)
            if locked.status != AppointmentStatus.CONFIRMED:
                raise BookingNotAllowed("Only confirmed appointments can be rescheduled.")
            if locked.start <= now:
                raise BookingNotAllowed("This appointment has already started.")
            if RescheduleRequest.objects.filter(appointment=locked, status=RescheduleStatus.PENDING).exists():
                raise BookingNotAllowed("A reschedule request is already waiting for the provider.")
            slot = _new_time(locked, new_slot_id, now)
            request = RescheduleRequest.objects.create(
                appointment=locked,
                new_start=slot.start,
                new_end=slot.end,
                new_local_date=slot.slot_date,
                expires_at=locked.start,
            )
            claim_for_request(request, locked)
            event(
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


@retry_on_conflict(try_again)
def reschedule_accept(*, request: RescheduleRequest, provider: Provider, now: datetime | None = None) -> Appointment:
    """Move the appointment to the requested time atomically: its claim moves there, the
    request's claim (which kept that time for it) goes."""
    now = now or timezone.now()
    try:
        return _accept(request=request, provider=provider, now=now)
    except IntegrityError as exc:
        raise SlotUnavailable("The requested time is no longer available.") from exc


def _accept(*, request: RescheduleRequest, provider: Provider, now: datetime) -> Appointment:
    with transaction.atomic():
        lock_provider(provider.pk)
        appointment = lock_appointment(request.appointment_id)
        if appointment.provider_id != provider.pk:
            raise BookingNotAllowed("This request is not for you.")
        locked_request = RescheduleRequest.objects.select_for_update().get(pk=request.pk)
        if locked_request.status != RescheduleStatus.PENDING:
            raise BookingNotAllowed("This request was already answered.")
        if locked_request.expires_at <= now or appointment.status != AppointmentStatus.CONFIRMED:
            raise BookingNotAllowed("This request has expired.")
        old_start = appointment.start
        new_start, new_end = locked_request.new_start, locked_request.new_end
        release_request(locked_request)
        appointment.start, appointment.end = new_start, new_end
        appointment.local_date = locked_request.new_local_date
        appointment.save(update_fields=["start", "end", "local_date", "updated_at"])
        TimeClaim.objects.filter(appointment=appointment).update(
            start=new_start, end=new_end, local_date=locked_request.new_local_date
        )
        locked_request.status = RescheduleStatus.ACCEPTED
        locked_request.decided_at = now
        locked_request.save(update_fields=["status", "decided_at", "updated_at"])
        event(
            appointment,
            EventKind.RESCHEDULE_ACCEPTED,
            actor=provider.user,
            now=now,
            old_start=old_start.isoformat(),
            new_start=new_start.isoformat(),
        )
        notify.reschedule_answered(appointment, request_id=locked_request.pk, accepted=True, new_start=new_start)
    return appointment


def close_request(request_id: Any, status: str, kind: str, actor: User | None, now: datetime) -> bool:
    """Inside the appointment's lock: end a pending request and give its time back. False when
    it was no longer pending."""
    request = (
        RescheduleRequest.objects.select_for_update(of=("self",))
        .select_related("appointment", "appointment__provider", "appointment__service", "appointment__customer")
        .filter(pk=request_id)
        .first()
    )
    if request is None or request.status != RescheduleStatus.PENDING:
        return False
    request.status = status
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "updated_at"])
    release_request(request)
    event(request.appointment, kind, actor=actor, now=now, new_start=request.new_start.isoformat())
    if status == RescheduleStatus.DECLINED:
        notify.reschedule_answered(
            request.appointment, request_id=request.pk, accepted=False, new_start=request.new_start
        )
    return True


@retry_on_conflict(try_again)
@transaction.atomic
def reschedule_decline(*, request: RescheduleRequest, provider: Provider, now: datetime | None = None) -> None:
    appointment = lock_appointment(request.appointment_id)
    if appointment.provider_id != provider.pk:
        raise BookingNotAllowed("This request is not for you.")
    if not close_request(
        request.pk, RescheduleStatus.DECLINED, EventKind.RESCHEDULE_DECLINED, provider.user, now or timezone.now()
    ):
        raise BookingNotAllowed("This request was already answered.")


@retry_on_conflict(try_again)
@transaction.atomic
def reschedule_withdraw(*, appointment: Appointment, customer: User, now: datetime | None = None) -> None:
    """The customer takes back their pending request; the requested time is free again."""
    locked = lock_appointment(appointment.pk)
    if locked.customer_id != customer.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    request = RescheduleRequest.objects.filter(appointment=locked, status=RescheduleStatus.PENDING).first()
    if request is None or not close_request(
        request.pk, RescheduleStatus.WITHDRAWN, EventKind.RESCHEDULE_WITHDRAWN, customer, now or timezone.now()
    ):
        raise BookingNotAllowed("There is no request waiting for the provider.")


def reschedules_expire(*, now: datetime | None = None) -> int:
    """Requests the provider did not answer before the appointment started lapse (beat task)."""
    now = now or timezone.now()
    expired = 0
    due = RescheduleRequest.objects.filter(status=RescheduleStatus.PENDING, expires_at__lte=now)
    for request_id, appointment_id in due.values_list("pk", "appointment_id"):
        with transaction.atomic():
            lock_appointment(appointment_id)
            if close_request(request_id, RescheduleStatus.EXPIRED, EventKind.RESCHEDULE_EXPIRED, None, now):
                expired += 1
    return expired


@retry_on_conflict(just_taken)
def appointment_move_by_provider(
    *, appointment: Appointment, provider: Provider, new_slot_id: Any, now: datetime | None = None
) -> Appointment:
    """The provider moves a confirmed appointment to another bookable time of its service (the
    same definition as a customer's booking, the time checked ignoring the appointment's own
    claim). A pending request of the customer's is withdrawn; the customer is told and may turn
    the new time down (`appointment_decline_move`)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            lock_provider(provider.pk)
            locked = lock_appointment(appointment.pk)
            if locked.provider_id != provider.pk:
                raise BookingNotAllowed("This appointment is not yours.")
            if locked.status != AppointmentStatus.CONFIRMED:
                raise BookingNotAllowed("Only confirmed appointments can be moved.")
            if locked.start <= now:
                raise BookingNotAllowed("This appointment has already started.")
            slot = _new_time(locked, new_slot_id, now)
            from bookings.services.cancel import withdraw_pending_request

            withdraw_pending_request(locked, now)
            old_start = locked.start
            locked.start, locked.end, locked.local_date = slot.start, slot.end, slot.slot_date
            locked.moved_by_provider_at = now
            locked.save(update_fields=["start", "end", "local_date", "moved_by_provider_at", "updated_at"])
            TimeClaim.objects.filter(appointment=locked).update(
                start=slot.start, end=slot.end, local_date=slot.slot_date
            )
            event(
                locked,
                EventKind.MOVED,
                actor=provider.user,
                now=now,
                old_start=old_start.isoformat(),
                new_start=slot.start.isoformat(),
            )
            notify.moved(locked, old_start=old_start, now=now.isoformat())
    except IntegrityError as exc:
        raise SlotUnavailable("This time was just taken.") from exc
    return locked
