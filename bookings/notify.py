"""What the booking domain tells people, through notifications.notify (one place for all events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import reverse

from appointly.money import format_money
from appointly.zones import city, is_zone
from bookings.models import Appointment
from notifications.services import Notice, notify_all
from providers.slots import local_label


def _when(start: datetime, provider_zone: str, recipient: Any) -> str:
    """A time for this reader: in their own zone with the provider's beside it when the two
    differ (a Lisbon customer of a Berlin physio), else in the provider's, named."""
    own = str(getattr(recipient, "timezone", "") or "")
    if own and own != provider_zone and is_zone(own):
        there = start.astimezone(ZoneInfo(provider_zone))
        return f"{local_label(start, own)} ({own}) · {there:%H:%M %Z} in {city(provider_zone)}"
    return f"{local_label(start, provider_zone)} ({provider_zone})"


def _context(appointment: Appointment, *, recipient: Any, **extra: Any) -> dict[str, Any]:
    provider = appointment.provider
    return {
        "service": appointment.service.name,
        "provider": provider.business_name,
        "customer": appointment.customer_label,
        "when": _when(appointment.start, provider.timezone, recipient),
        "where": appointment.service.where,
        "amount": format_money(appointment.price_minor, appointment.currency),
        "link": reverse("bookings:appointment", args=[appointment.pk]),
        "service_link": reverse("service_detail", args=[appointment.service.slug]),
        **extra,
    }


def _notice(appointment: Appointment, *, event: str, recipient: Any, context: dict[str, Any], key: str) -> Notice:
    """Every message about an appointment names it (`reference`) and its provider (`scope`), so
    the provider's message history shows what their customers were sent."""
    return Notice(event, recipient, context, key, reference=str(appointment.pk), scope=str(appointment.provider_id))


def _tell(appointment: Appointment, *, event: str, recipient: Any, context: dict[str, Any], key: str) -> bool:
    """True if the message is new."""
    return bool(notify_all([_notice(appointment, event=event, recipient=recipient, context=context, key=key)]))


def booked(appointment: Appointment, *, tell_provider: bool = True, preferences_loaded: bool = False) -> None:
    """The customer and the provider (not when the provider made the booking themselves).
    `preferences_loaded`: the appointment was read in this transaction with both people's
    preferences (`lock_appointment`)."""
    key = f"booked:{appointment.pk}"
    told = [("booked_customer", appointment.customer)]
    if tell_provider:
        told.append(("booked_provider", appointment.provider.user))
    # Paid online: the customer's confirmation links the receipt.
    paid_online = appointment.price_minor > 0 and not appointment.pay_at_venue
    receipt = reverse("bookings:receipt", args=[appointment.pk]) if paid_online else ""
    notify_all(
        [
            _notice(
                appointment,
                event=event,
                recipient=recipient,
                context=_context(appointment, recipient=recipient, receipt_link=receipt),
                key=key,
            )
            for event, recipient in told
        ],
        preferences_loaded=preferences_loaded,
    )


def cancelled(appointment: Appointment, *, by: str, refund_minor: int) -> None:
    notify_all([cancelled_notice(appointment, by=by, refund_minor=refund_minor)])


def cancelled_notice(appointment: Appointment, *, by: str, refund_minor: int) -> Notice:
    """The other side hears of a cancellation (a bulk cancel tells all its customers at once)."""
    if by == "provider":
        event, recipient = "cancelled_by_provider", appointment.customer
    else:
        event, recipient = "cancelled_by_customer", appointment.provider.user
    ctx = _context(
        appointment,
        recipient=recipient,
        reason=appointment.cancel_reason,
        amount=format_money(refund_minor, appointment.currency),
    )
    return _notice(appointment, event=event, recipient=recipient, context=ctx, key=f"cancelled:{appointment.pk}")


def reschedule_requested(appointment: Appointment, *, request_id: Any, new_start: Any) -> None:
    recipient = appointment.provider.user
    ctx = _context(
        appointment, recipient=recipient, new_when=_when(new_start, appointment.provider.timezone, recipient)
    )
    _tell(appointment, event="reschedule_requested", recipient=recipient, context=ctx, key=f"resched:{request_id}")


def payment_link(appointment: Appointment, *, until: Any) -> None:
    """A provider's phone booking, held for the customer to pay through the link."""
    recipient = appointment.customer
    ctx = _context(
        appointment,
        recipient=recipient,
        pay_link=reverse("bookings:pay", args=[appointment.pk]),
        deadline=_when(until, appointment.provider.timezone, recipient),
        reset_link=reverse("account_reset_password"),
    )
    _tell(appointment, event="payment_link", recipient=recipient, context=ctx, key=f"paylink:{appointment.pk}")


def late_payment_refunded(appointment: Appointment) -> None:
    """The payment completed after the hold lapsed and the time had gone: refunded in full."""
    recipient = appointment.customer
    ctx = _context(appointment, recipient=recipient, receipt_link=reverse("bookings:receipt", args=[appointment.pk]))
    _tell(appointment, event="late_payment_refunded", recipient=recipient, context=ctx, key=f"late:{appointment.pk}")


def moved(appointment: Appointment, *, old_start: Any, now: Any) -> None:
    """The provider moved the customer's appointment: the new time, the old one, and that they
    may turn it down for everything back."""
    recipient = appointment.customer
    old_when = _when(old_start, appointment.provider.timezone, recipient)
    ctx = _context(appointment, recipient=recipient, old_when=old_when)
    _tell(appointment, event="moved_by_provider", recipient=recipient, context=ctx, key=f"moved:{appointment.pk}:{now}")


def reschedule_answered(appointment: Appointment, *, request_id: Any, accepted: bool, new_start: Any) -> None:
    recipient = appointment.customer
    ctx = _context(
        appointment, recipient=recipient, new_when=_when(new_start, appointment.provider.timezone, recipient)
    )
    _tell(
        appointment,
        event="reschedule_accepted" if accepted else "reschedule_declined",
        recipient=recipient,
        context=ctx,
        key=f"resched-answer:{request_id}",
    )


def reminder(appointment: Appointment, *, offset: Any) -> int:
    hours = int(offset.total_seconds() // 3600)
    minutes = int(offset.total_seconds() // 60)
    in_words = f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{minutes} minutes"
    ctx = _context(appointment, recipient=appointment.customer, in_words=in_words)
    key = f"reminder:{appointment.pk}:{minutes}:{appointment.start.isoformat()}"
    return 1 if _tell(appointment, event="reminder", recipient=appointment.customer, context=ctx, key=key) else 0
