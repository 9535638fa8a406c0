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


def booked(appointment: Appointment) -> None:
    ctx = _context(appointment)
    notify(
        event="booked_customer",
        recipient=appointment.customer,
        context=ctx,
        key=f"booked:{appointment.pk}",
        reference=str(appointment.pk),
        scope=str(appointment.provider_id),
    )
    notify(
        event="booked_provider",
        recipient=appointment.provider.user,
        context=ctx,
        key=f"booked:{appointment.pk}",
        reference=str(appointment.pk),
        scope=str(appointment.provider_id),
    )


def cancelled(appointment: Appointment, *, by: str, refund_minor: int) -> None:
    ctx = _context(
        appointment, reason=appointment.cancel_reason, amount=format_money(refund_minor, appointment.currency)
    )
    if by == "provider":
        notify(
            event="cancelled_by_provider",
            recipient=appointment.customer,
            context=ctx,
            key=f"cancelled:{appointment.pk}",
        )
    else:
        notify(
            event="cancelled_by_customer",
            recipient=appointment.provider.user,
            context=ctx,
            key=f"cancelled:{appointment.pk}",
        )


def reschedule_requested(appointment: Appointment, *, request_id: Any, new_start: Any) -> None:
    ctx = _context(
        appointment,
        new_when=f"{local_label(new_start, appointment.provider.timezone)} ({appointment.provider.timezone})",
    )
    notify(
        event="reschedule_requested",
        recipient=appointment.provider.user,
        context=ctx,
        key=f"resched:{request_id}",
        reference=str(appointment.pk),
        scope=str(appointment.provider_id),
    )


def reschedule_answered(appointment: Appointment, *, request_id: Any, accepted: bool, new_start: Any) -> None:
    ctx = _context(
        appointment,
        new_when=f"{local_label(new_start, appointment.provider.timezone)} ({appointment.provider.timezone})",
    )
    event = "reschedule_accepted" if accepted else "reschedule_declined"
    notify(
        event=event,
        recipient=appointment.customer,
        context=ctx,
        key=f"resched-answer:{request_id}",
        reference=str(appointment.pk),
        scope=str(appointment.provider_id),
    )


def reminder(appointment: Appointment, *, offset: Any) -> int:
    hours = int(offset.total_seconds() // 3600)
    minutes = int(offset.total_seconds() // 60)
    ctx = _context(appointment, in_words=f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{minutes} minutes")
    created = notify(
        event="reminder",
        recipient=appointment.customer,
        context=ctx,
        key=f"reminder:{appointment.pk}:{minutes}:{appointment.start.isoformat()}",
        reference=str(appointment.pk),
        scope=str(appointment.provider_id),
    )
    return 1 if created else 0
