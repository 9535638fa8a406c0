"""Bookings the provider makes: a walk-in or phone booking for a customer (paid at the venue),
and moving an appointment to another free time. Both pick from the same offers as customers
(bookings.picker, bookings.availability) and go through the same locks and claims."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.services import customer_for_provider_booking
from appointly.core import DomainError, form_uuid, who
from bookings import selectors as booking_selectors
from bookings.forms import WalkInForm
from bookings.picker import pick_day
from bookings.services import appointment_book_for_customer, appointment_move_by_provider
from dashboard.layout import layout_context
from providers.decorators import provider_required
from providers.selectors import service_get_for_provider


@require_GET
@provider_required()
def walk_in_start(request: HttpRequest) -> HttpResponse:
    """`/dashboard/appointments/new`: which service (the next page picks the time)."""
    provider = who(request).provider
    services = list(provider.services.filter(is_active=True).select_related("category").order_by("name"))
    return render(
        request, "dashboard/walk_in_start.html", {**layout_context(provider, "appointments"), "services": services}
    )


@require_http_methods(["GET", "POST"])
@provider_required()
def walk_in(request: HttpRequest, service_id: str) -> HttpResponse:
    """`/dashboard/appointments/new/<service>`: a day from the month, a free time, the customer,
    and how they pay: at the venue (booked at once, the customer told by email or SMS) or
    through a payment link (held until they pay)."""
    provider = who(request).provider
    service = service_get_for_provider(provider=provider, service_id=service_id)
    form = WalkInForm(request.POST or None)
    slot_error = None
    if request.method == "POST" and form.is_valid():
        slot_id, key = form_uuid(request.POST.get("slot")), form_uuid(request.POST.get("key"))
        if slot_id is None or key is None:
            slot_error = "Pick a free time."
        else:
            try:
                customer = customer_for_provider_booking(
                    email=form.cleaned_data["email"], phone=form.cleaned_data["phone"]
                )
                by_link = form.cleaned_data["payment"] == "link"
                appointment = appointment_book_for_customer(
                    provider=provider,
                    customer=customer,
                    slot_id=slot_id,
                    idempotency_key=key,
                    details=form.details(),
                    pay_by_link=by_link,
                )
            except DomainError as exc:
                slot_error = str(exc)
            else:
                said = (
                    "Held, and the payment link is on its way: it is booked when they pay."
                    if by_link
                    else "Booked, to be paid at the venue. The customer has been told."
                )
                messages.success(request, said)
                return redirect("dashboard_appointment", appointment_id=appointment.pk)
    picked = pick_day(request.GET, service=service, tz=None)
    context = {
        **layout_context(provider, "appointments"),
        "service": service,
        "form": form,
        "picked": picked,
        "month": picked.month,
        "slot_error": slot_error,
        "chosen": request.POST.get("slot", ""),
        "key": request.POST.get("key") or uuid.uuid4(),
    }
    failed = request.method == "POST" and (slot_error or form.errors)
    return render(request, "dashboard/walk_in.html", context, status=400 if failed else 200)


@require_http_methods(["GET", "POST"])
@provider_required()
def move(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """`/dashboard/appointments/<id>/move`: another free time of the same service, then the
    customer is told and may turn the new time down for everything back."""
    provider = who(request).provider
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    error = None
    if request.method == "POST":
        slot_id = form_uuid(request.POST.get("slot"))
        if slot_id is None:
            error = "Pick a new time."
        else:
            try:
                appointment_move_by_provider(appointment=appointment, provider=provider, new_slot_id=slot_id)
            except DomainError as exc:
                error = str(exc)
            else:
                messages.success(request, "Moved. The customer has been told and may turn the new time down.")
                return redirect("dashboard_appointment", appointment_id=appointment.pk)
    picked = pick_day(request.GET, service=appointment.service, tz=None, ignoring=appointment)
    context: dict[str, Any] = {
        **layout_context(provider, "appointments"),
        "appointment": appointment,
        "picked": picked,
        "month": picked.month,
        "error": error,
    }
    return render(request, "dashboard/move.html", context, status=400 if error else 200)
