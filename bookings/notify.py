"""What the booking domain tells people, through notifications.notify (one place for all events)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from appointly.money import format_money
from bookings.models import Appointment
from notifications.services import notify
from providers.slots import local_label


def _context(appointment: Appointment, **extra: Any) -> dict[str, Any]:
    provider = appointment.provider
    return {
        "service": appointment.service.name,
        "provider": provider.business_name,
        "customer": appointment.customer.email,
        "when": f"{local_label(appointment.start, provider.timezone)} ({provider.timezone})",
        "where": appointment.service.where,
        "amount": format_money(appointment.price_minor, appointment.currency),
        "link": reverse("bookings:appointment", args=[appointment.pk]),
        "service_link": reverse("service_detail", args=[appointment.service.slug]),
        **extra,
    }


def _tell(appointment: Appointment, *, event: str, recipient: Any, context: dict[str, Any], key: str) -> bool:
    """Every message about an appointment names it (`reference`) and its provider (`scope`), so
    the provider's message history shows what their customers were sent. True if it is new."""
    return bool(
        notify(
            event=event,
            recipient=recipient,
            context=context,
            key=key,
            reference=str(appointment.pk),
            scope=str(appointment.provider_id),
        )
    )


def _new_when(appointment: Appointment, new_start: Any) -> str:
    zone = appointment.provider.timezone
    return f"{local_label(new_start, zone)} ({zone})"


def booked(appointment: Appointment) -> None:
    ctx = _context(appointment)
    key = f"booked:{appointment.pk}"
    _tell(appointment, event="booked_customer", recipient=appointment.customer, context=ctx, key=key)
    _tell(appointment, event="booked_provider", recipient=appointment.provider.user, context=ctx, key=key)


def cancelled(appointment: Appointment, *, by: str, refund_minor: int) -> None:
    ctx = _context(
        appointment, reason=appointment.cancel_reason, amount=format_money(refund_minor, appointment.currency)
    )
    if by == "provider":
        event, recipient = "cancelled_by_provider", appointment.customer
    else:
        event, recipient = "cancelled_by_customer", appointment.provider.user
    _tell(appointment, event=event, recipient=recipient, context=ctx, key=f"cancelled:{appointment.pk}")


def reschedule_requested(appointment: Appointment, *, request_id: Any, new_start: Any) -> None:
    ctx = _context(appointment, new_when=_new_when(appointment, new_start))
    _tell(
        appointment,
        event="reschedule_requested",
        recipient=appointment.provider.user,
        context=ctx,
        key=f"resched:{request_id}",
    )


def reschedule_answered(appointment: Appointment, *, request_id: Any, accepted: bool, new_start: Any) -> None:
    ctx = _context(appointment, new_when=_new_when(appointment, new_start))
    _tell(
        appointment,
        event="reschedule_accepted" if accepted else "reschedule_declined",
        recipient=appointment.customer,
        context=ctx,
        key=f"resched-answer:{request_id}",
    )


def reminder(appointment: Appointment, *, offset: Any) -> int:
    hours = int(offset.total_seconds() // 3600)
    minutes = int(offset.total_seconds() // 60)
    ctx = _context(appointment, in_words=f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{minutes} minutes")
    key = f"reminder:{appointment.pk}:{minutes}:{appointment.start.isoformat()}"
    return 1 if _tell(appointment, event="reminder", recipient=appointment.customer, context=ctx, key=key) else 0
