"""What an agent can do, once: the JSON API (api/v1.py) and the MCP tools (api/mcp_server.py)
both call these. Each takes the `Actor` (the person, and the token when there is one), checks
the scope, calls the same services and selectors as the pages, and answers plain JSON-ready
dicts. Refusals are exceptions the two front ends turn into their own error shapes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from api.actor import acting_as
from api.models import AccessToken, Scope
from api.tokens import ScopeMissing, token_require
from appointly.core import DomainError
from appointly.money import format_money
from appointly.zones import is_zone
from bookings import availability, selectors
from bookings.models import Appointment, AppointmentStatus
from bookings.services import (
    BookingNotAllowed,
    CustomerDetails,
    HoldExpired,
    RefundChanged,
    SlotUnavailable,
    appointment_cancel_by_customer,
    appointment_checkout,
    appointment_hold,
    appointment_mark_attendance,
    appointments_cancel_bulk,
    refund_for_customer_cancel,
    reschedule_request,
    reschedule_withdraw,
)
from payments.services import PaymentInProgress, PaymentServiceUnavailable
from providers.models import Service
from providers.selectors import service_get_public, services_search

MAX_DAYS = 14
MAX_BULK = 200  # as the dashboard's bulk cancel


class Conflict(DomainError):
    """409: the state changed under the caller (a time taken, a refund changed, a hold gone)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class Unavailable(DomainError):
    """503: the payment service did not answer; nothing was charged, trying again is safe."""


@dataclass(frozen=True)
class Actor:
    user: User
    token: AccessToken | None = None

    def need(self, scope: str) -> User:
        """The person, once the token (if any) has the scope; a session has every scope its
        kind of account allows."""
        provider = bool(getattr(self.user, "is_provider", False))
        if scope == Scope.PROVIDER and not provider:
            raise ScopeMissing("This operation is for provider accounts.")
        if scope in (Scope.BOOK, Scope.CANCEL) and provider:
            raise ScopeMissing("Provider accounts cannot book appointments. Use a customer account.")
        if self.token is not None:
            token_require(self.token, scope)
        return self.user

    def label(self) -> dict[str, str]:
        return {"via": "agent", "token": self.token.name} if self.token is not None else {"via": "api"}


def money(minor: int, currency: str) -> dict[str, Any]:
    return {"amount_minor": minor, "currency": currency, "display": format_money(minor, currency)}


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _service_out(service: Service, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slug": service.slug,
        "name": service.name,
        "provider": service.provider.business_name,
        "category": service.category.name,
        "duration_minutes": service.duration_minutes,
        "price": money(service.price_minor, service.currency),
        "payment": "free" if service.payment_mode == "free" or service.price_minor == 0 else service.payment_mode,
        "where": service.where,
        "timezone": service.provider.timezone,
    }
    if detail:
        out |= {
            "description": service.description,
            "refund_policy": service.refund_policy_text,
            "booking_window_days": service.booking_window_days,
            "min_notice_minutes": service.min_notice_minutes,
        }
    return out


def appointment_out(a: Appointment) -> dict[str, Any]:
    held = a.status == AppointmentStatus.HELD
    return {
        "id": str(a.pk),
        "status": a.status,
        "service": a.service.name,
        "provider": a.provider.business_name,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "price": money(a.price_minor, a.currency),
        "payment": "venue" if a.pay_at_venue else ("free" if a.price_minor == 0 else "online"),
        "refund_policy": a.refund_policy.lines,
        "hold_expires_at": a.hold_expires_at.isoformat() if held and a.hold_expires_at else None,
        "pay_url": _site(reverse("bookings:pay", args=[a.pk])) if held else None,
    }


def _provider_appointment_out(a: Appointment) -> dict[str, Any]:
    checked = a.checked_in_at.isoformat() if a.checked_in_at else None
    return appointment_out(a) | {"customer": a.customer_label, "checked_in_at": checked}


# --- customers ---------------------------------------------------------------------------------


def services_find(actor: Actor, *, q: str = "", category: str = "", limit: int = 20) -> list[dict[str, Any]]:
    actor.need(Scope.READ)
    return [_service_out(s) for s in services_search(q=q[:100], category=category[:60])[: max(1, min(limit, 50))]]


def service_details(actor: Actor, *, slug: str) -> dict[str, Any]:
    actor.need(Scope.READ)
    return _service_out(service_get_public(slug=slug[:200]), detail=True)


def free_times(actor: Actor, *, slug: str, start: date, days: int = 1, tz: str = "") -> list[dict[str, Any]]:
    actor.need(Scope.READ)
    if not 1 <= days <= MAX_DAYS:
        raise DomainError(f"`days` must be 1 to {MAX_DAYS}.")
    found = service_get_public(slug=slug[:200])
    if tz and not is_zone(tz):
        raise DomainError(f"{tz!r} is not a time zone name like Europe/Lisbon.")
    zone = ZoneInfo(tz or found.provider.timezone)
    provider_zone = ZoneInfo(found.provider.timezone)
    out = []
    for offset in range(days):
        for slot in availability.offered_on(service=found, day=start + timedelta(days=offset), tz=zone):
            local = slot.start.astimezone(provider_zone)
            out.append(
                {
                    "slot_id": str(slot.pk),
                    "start": slot.start.astimezone(zone).isoformat(),
                    "end": slot.end.astimezone(zone).isoformat(),
                    "provider_local": f"{local:%Y-%m-%d %H:%M} {found.provider.timezone}",
                }
            )
    return out


def booking_propose(
    actor: Actor, *, slot_id: uuid.UUID, idempotency_key: uuid.UUID, name: str = "", phone: str = "", notes: str = ""
) -> dict[str, Any]:
    customer = actor.need(Scope.BOOK)
    slot = selectors.slot_find(slot_id=slot_id)
    with acting_as(**actor.label()):
        try:
            held = appointment_hold(
                customer=customer,
                slot_id=slot_id,
                idempotency_key=str(idempotency_key),
                details=CustomerDetails(name[:120], phone[:32], notes[:500]),
            )
        except SlotUnavailable as exc:
            others = availability.alternatives(service=slot.service, excluding=slot.pk, limit=5) if slot else []
            raise Conflict(
                str(exc), alternatives=[{"slot_id": str(s.pk), "start": s.start.isoformat()} for s in others]
            ) from exc
    return appointment_out(selectors.appointment_get_for_customer(customer=customer, appointment_id=held.pk))


def booking_confirm(actor: Actor, *, appointment_id: uuid.UUID, idempotency_key: uuid.UUID) -> dict[str, Any]:
    customer = actor.need(Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    if appointment.status == AppointmentStatus.CONFIRMED:
        return {"appointment": appointment_out(appointment), "checkout_url": None}
    with acting_as(**actor.label()):
        try:
            checkout = appointment_checkout(
                appointment=appointment,
                customer=customer,
                payment_key=str(idempotency_key),
                success_url=_site(reverse("bookings:pay_return", args=[appointment.pk])),
                cancel_url=_site(reverse("bookings:pay", args=[appointment.pk]) + "?cancelled=1"),
            )
        except (HoldExpired, PaymentInProgress) as exc:
            raise Conflict(str(exc)) from exc
        except PaymentServiceUnavailable as exc:
            raise Unavailable(str(exc)) from exc
    fresh = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment.pk)
    return {"appointment": appointment_out(fresh), "checkout_url": checkout.url or None}


def appointments_mine(actor: Actor, *, past: bool = False) -> list[dict[str, Any]]:
    customer = actor.need(Scope.READ)
    if getattr(customer, "is_provider", False):
        raise ScopeMissing("Provider accounts have no appointments as customers: use the provider operations.")
    found = (selectors.appointments_past if past else selectors.appointments_upcoming)(customer=customer)
    return [appointment_out(a) for a in found]


def appointment_cancel(
    actor: Actor, *, appointment_id: uuid.UUID, dry_run: bool = False, expected_refund_minor: int | None = None
) -> dict[str, Any]:
    customer = actor.need(Scope.CANCEL)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    now = timezone.now()
    if not appointment.changeable_by_customer(now):
        raise BookingNotAllowed("This appointment cannot be cancelled any more.")
    refund = refund_for_customer_cancel(appointment, now)
    if dry_run:
        now_shown = appointment_out(appointment)
        return {"cancelled": False, "refund": money(refund, appointment.currency), "appointment": now_shown}
    with acting_as(**actor.label()):
        try:
            appointment_cancel_by_customer(
                appointment=appointment, customer=customer, expected_refund_minor=expected_refund_minor
            )
        except RefundChanged as exc:
            shown = format_money(exc.refund_minor, appointment.currency)
            raise Conflict(f"The refund is now {shown}; nothing was cancelled.", refund_minor=exc.refund_minor) from exc
    fresh = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment.pk)
    return {"cancelled": True, "refund": money(refund, appointment.currency), "appointment": appointment_out(fresh)}


def appointment_reschedule(actor: Actor, *, appointment_id: uuid.UUID, slot_id: uuid.UUID) -> dict[str, Any]:
    customer = actor.need(Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    with acting_as(**actor.label()):
        try:
            reschedule_request(appointment=appointment, customer=customer, new_slot_id=slot_id)
        except SlotUnavailable as exc:
            raise Conflict(str(exc)) from exc
    return appointment_out(appointment)


def appointment_reschedule_withdraw(actor: Actor, *, appointment_id: uuid.UUID) -> dict[str, Any]:
    customer = actor.need(Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    with acting_as(**actor.label()):
        reschedule_withdraw(appointment=appointment, customer=customer)
    return appointment_out(appointment)


# --- providers -----------------------------------------------------------------------------------


def provider_appointments(actor: Actor, *, start: date, days: int = 1) -> list[dict[str, Any]]:
    provider = actor.need(Scope.PROVIDER).provider
    if not 1 <= days <= 31:
        raise DomainError("`days` must be 1 to 31.")
    begin = datetime.combine(start, datetime.min.time(), tzinfo=ZoneInfo(provider.timezone))
    found = selectors.provider_day(provider=provider, start=begin, end=begin + timedelta(days=days))
    return [_provider_appointment_out(a) for a in found]


def provider_cancel(actor: Actor, *, ids: list[str], reason: str = "") -> dict[str, Any]:
    provider = actor.need(Scope.PROVIDER).provider
    if not ids or len(ids) > MAX_BULK:
        raise DomainError(f"Send 1 to {MAX_BULK} appointment ids.")
    with acting_as(**actor.label()):
        results = appointments_cancel_bulk(provider=provider, ids=[str(i)[:64] for i in ids], reason=reason[:200])
    return {"results": [{"id": r.id, "outcome": r.outcome} for r in results]}


def provider_attendance(actor: Actor, *, appointment_id: uuid.UUID, attended: bool) -> dict[str, Any]:
    provider = actor.need(Scope.PROVIDER).provider
    appointment = selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    with acting_as(**actor.label()):
        done = appointment_mark_attendance(appointment=appointment, provider=provider, attended=attended)
    return _provider_appointment_out(done)
