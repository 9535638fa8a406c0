"""The customer's booking pages: confirm, pay, result, appointment, cancel, reschedule, account."""

from __future__ import annotations

import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.adapter import RESUME_SESSION_KEY
from api.views import tokens_context
from appointly.core import DomainError, form_uuid, who
from appointly.zones import visitor_zone
from bookings import availability, selectors
from bookings.calendar import appointment_ics, google_calendar_url, outlook_calendar_url
from bookings.forms import BookingDetailsForm
from bookings.models import AppointmentStatus
from bookings.picker import pick_day
from bookings.services import (
    BookingNotAllowed,
    HoldExpired,
    RefundChanged,
    SlotUnavailable,
    Terms,
    TermsChanged,
    appointment_cancel_by_customer,
    appointment_checkout,
    appointment_hold,
    refund_for_customer_cancel,
    reschedule_request,
    reschedule_withdraw,
)
from notifications.forms import preference_context
from notifications.services import inbox_and_history
from payments.models import PaymentStatus
from payments.services import PaymentInProgress, PaymentServiceUnavailable
from providers.models import CURRENCIES, PaymentMode, Service
from providers.policy import RefundPolicy


def _customer_only(request: HttpRequest) -> HttpResponse | None:
    identity = who(request)
    if identity.is_anonymous:
        return redirect_to_login(request.get_full_path(), login_url="account_login")
    if identity.is_provider:
        return render(request, "bookings/customers_only.html", status=403)
    return None


def _taken(request: HttpRequest, service: Service | None, message: str, *, excluding: Any = None) -> HttpResponse:
    """The "just taken" page: what happened, nothing charged, and other bookable times."""
    return render(
        request,
        "bookings/taken.html",
        {
            "service": service,
            "provider": service.provider if service else None,
            "message": message,
            "alternatives": availability.alternatives(service=service, excluding=excluding) if service else [],
        },
        status=409,
    )


def _service_hint(request: HttpRequest) -> Service | None:
    """The service a vanished offer belonged to, as the form or link that led here names it."""
    slug = (request.POST.get("service") or request.GET.get("service") or "")[:160]
    return Service.objects.select_related("provider").filter(slug=slug).first() if slug else None


_CURRENCY_CODES = {code for code, _label in CURRENCIES}


def _shown_terms(data: Any) -> Terms | None:
    """The terms the confirm form showed (hidden fields), or None when they are missing or
    malformed (an old or tampered form: the customer is shown the current terms again)."""
    try:
        full, partial, percent = (int(part) for part in str(data.get("policy", "")).split("-"))
        price = int(data.get("price_minor", ""))
    except ValueError:
        return None
    currency = data.get("currency", "")
    payment = data.get("payment_mode", "")
    if currency not in _CURRENCY_CODES or payment not in PaymentMode.values:
        return None
    return Terms(price, currency, RefundPolicy(full, partial, percent), payment)


@require_http_methods(["GET", "POST"])
def book(request: HttpRequest, slot_id: uuid.UUID) -> HttpResponse:
    """Step 1: confirm the chosen time. Anonymous visitors log in or sign up and come back here."""
    slot = selectors.slot_find(slot_id=slot_id)
    if slot is None:
        return _taken(
            request, _service_hint(request), "This time is no longer offered: the provider changed the schedule."
        )
    service = slot.service
    if who(request).is_anonymous:
        request.session[RESUME_SESSION_KEY] = request.get_full_path()
        messages.info(request, "Log in or create an account to book; we'll bring you back to this time.")
        return redirect_to_login(request.get_full_path(), login_url="account_login")
    if denied := _customer_only(request):
        return denied
    request.session.pop(RESUME_SESSION_KEY, None)
    held = selectors.appointment_held_for(customer=request.user, slot=slot)  # type: ignore[arg-type]
    if held is not None:
        return redirect("bookings:pay", appointment_id=held.pk)
    context: dict[str, Any] = {
        "slot": slot,
        "service": service,
        "provider": service.provider,
        "policy": service.refund_policy,
        "idempotency_key": uuid.uuid4(),
    }
    if request.method == "POST":
        key = form_uuid(request.POST.get("idempotency_key"))
        shown = _shown_terms(request.POST)
        form = context["form"] = BookingDetailsForm(request.POST)
        if key is None or shown is None:
            context["error"] = "This form expired. Please check the details and confirm again."
            return render(request, "bookings/confirm.html", context, status=400)
        if not form.is_valid():
            context["idempotency_key"] = key
            return render(request, "bookings/confirm.html", context, status=400)
        try:
            appointment = appointment_hold(
                customer=request.user,  # type: ignore[arg-type]
                slot_id=slot.pk,
                idempotency_key=key,
                expected=shown,
                details=form.details(),
            )
        except TermsChanged:
            service.refresh_from_db()
            context.update(policy=service.refund_policy, changed_from=shown)
            return render(request, "bookings/confirm.html", context, status=409)
        except SlotUnavailable as exc:
            return _taken(request, service, str(exc), excluding=slot.pk)
        except BookingNotAllowed as exc:
            context["error"] = str(exc)
            return render(request, "bookings/confirm.html", context, status=400)
        if appointment.status == AppointmentStatus.CONFIRMED:  # paid at the venue, or free
            return redirect(reverse("bookings:appointment", args=[appointment.pk]) + "?booked=1")
        return redirect("bookings:pay", appointment_id=appointment.pk)
    if not availability.is_offered(slot, service, now=timezone.now()):
        gone = "This service is not offered any more." if not service.is_active else "This time is no longer available."
        return _taken(request, service, gone, excluding=slot.pk)
    # The details the customer gave last time, ready to confirm again.
    context["form"] = BookingDetailsForm(initial=selectors.customer_details_last(customer=request.user))  # type: ignore[arg-type]
    return render(request, "bookings/confirm.html", context)


def _held_or_lapsed(request: HttpRequest, appointment: Any) -> HttpResponse | None:
    """The answer when there is nothing left to pay: the booking page once confirmed, the
    lapsed-hold page once the hold is gone."""
    if appointment.status == AppointmentStatus.CONFIRMED:
        return redirect(reverse("bookings:appointment", args=[appointment.pk]) + "?booked=1")
    if appointment.status != AppointmentStatus.HELD or (
        appointment.hold_expires_at is not None and appointment.hold_expires_at <= timezone.now()
    ):
        context = {
            "appointment": appointment,
            "provider": appointment.provider,
            "message": "Your hold on this time ran out before payment. You have not been charged.",
            "expired": True,
        }
        return render(request, "bookings/payment_failed.html", context, status=410)
    return None


@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    """Step 2: pay while the slot is held, on the gateway's hosted page (no card number reaches
    us). "Pay" sends the customer there; pressing it again returns to the same page."""
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    if done := _held_or_lapsed(request, appointment):
        return done

    def last_failure() -> str:  # read only when the page is shown
        payment = selectors.payment_latest_for(appointment=appointment)
        return payment.failure_message if payment and payment.status != "pending" else ""

    context: dict[str, Any] = {
        "appointment": appointment,
        "provider": appointment.provider,
        "payment_key": uuid.uuid4(),
        "came_back": request.GET.get("cancelled") == "1",
        "last_failure": last_failure,
    }
    if request.method == "POST":
        key = form_uuid(request.POST.get("payment_key"))
        if key is None:
            context["error"] = "This form is out of date. Please press Pay again."
            return render(request, "bookings/pay.html", context, status=400)
        try:
            checkout = appointment_checkout(
                appointment=appointment,
                customer=request.user,  # type: ignore[arg-type]
                payment_key=str(key),
                success_url=request.build_absolute_uri(reverse("bookings:pay_return", args=[appointment.pk])),
                cancel_url=request.build_absolute_uri(reverse("bookings:pay", args=[appointment.pk]) + "?cancelled=1"),
            )
        except PaymentInProgress as exc:
            messages.info(request, str(exc))
            return redirect("bookings:appointment", appointment_id=appointment.pk)
        except HoldExpired as exc:
            context.update(message=str(exc), expired=True)
            return render(request, "bookings/payment_failed.html", context, status=410)
        except PaymentServiceUnavailable as exc:
            context["error"] = str(exc)
            return render(request, "bookings/pay.html", context, status=503)
        except BookingNotAllowed as exc:
            context["error"] = str(exc)
            return render(request, "bookings/pay.html", context, status=400)
        if not checkout.url:
            return redirect(reverse("bookings:appointment", args=[appointment.pk]) + "?booked=1")
        return redirect(checkout.url)
    return render(request, "bookings/pay.html", context)


@require_GET
def pay_return(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    """Back from the hosted page. What the redirect says is not trusted: this page shows what
    the ledger says, "confirming…" until the gateway's webhook has spoken (the page polls
    pay_status, like the dashboard's live updates)."""
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    return _payment_state(request, appointment, since=None)


@require_GET
def pay_status(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    """The return page's poll: 204 while nothing changed; HX-Redirect once the booking is
    confirmed or the payment failed; after PAYMENT_CONFIRM_WAIT_SECONDS a message that the
    confirmation will come by email (and the polling stops)."""
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    try:
        since = float(request.GET.get("since", ""))
    except ValueError:
        since = time.time()
    return _payment_state(request, appointment, since=since)


def _payment_state(request: HttpRequest, appointment: Any, *, since: float | None) -> HttpResponse:
    payment = selectors.payment_latest_for(appointment=appointment)
    if appointment.status == AppointmentStatus.CONFIRMED:
        target = reverse("bookings:appointment", args=[appointment.pk]) + "?booked=1"
    elif payment is None or payment.status in (PaymentStatus.FAILED, PaymentStatus.DECLINED):
        # Nothing paid: back to the pay page (or the lapsed-hold page), which says why.
        target = reverse("bookings:pay", args=[appointment.pk])
    elif payment.status == PaymentStatus.SUCCEEDED:  # refunded after a lapse: the booking page says so
        target = reverse("bookings:appointment", args=[appointment.pk])
    else:
        target = ""
    if since is None:
        if target:
            return redirect(target)
        context = {
            "appointment": appointment,
            "provider": appointment.provider,
            "since": int(time.time()),
        }
        return render(request, "bookings/pay_confirming.html", context)
    if target:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    if time.time() - since > settings.PAYMENT_CONFIRM_WAIT_SECONDS:
        return render(request, "bookings/_pay_slow.html", {"appointment": appointment})
    return HttpResponse(status=204)


@require_GET
def appointment_detail(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    payment = selectors.payment_for(appointment=appointment)
    return render(
        request,
        "bookings/appointment.html",
        {
            "appointment": appointment,
            "provider": appointment.provider,
            "service": appointment.service,
            "events": selectors.appointment_events(appointment=appointment),
            "payment": payment,
            "refunds": selectors.refunds_for(appointment=appointment),
            "just_booked": request.GET.get("booked") == "1" and appointment.status == AppointmentStatus.CONFIRMED,
            "can_change": appointment.changeable_by_customer(timezone.now()),
            "google_calendar": google_calendar_url(appointment),
            "outlook_calendar": outlook_calendar_url(appointment),
        },
    )


@require_GET
def appointment_calendar(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    response = HttpResponse(appointment_ics(appointment), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="appointly-{appointment.pk}.ics"'
    return response


@require_http_methods(["GET", "POST"])
def appointment_cancel(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    now = timezone.now()
    context: dict[str, Any] = {
        "appointment": appointment,
        "provider": appointment.provider,
        "refund_minor": refund_for_customer_cancel(appointment, now),
    }
    if request.method == "POST":
        try:
            shown = int(request.POST.get("refund_minor", ""))
        except ValueError:
            shown = -1  # an old form without the amount: show the amount and ask again
        try:
            appointment_cancel_by_customer(
                appointment=appointment,
                customer=request.user,  # type: ignore[arg-type]
                expected_refund_minor=shown,
            )
        except RefundChanged as exc:
            context.update(refund_minor=exc.refund_minor, refund_changed=shown >= 0, shown_minor=shown)
            return render(request, "bookings/cancel.html", context, status=409)
        except DomainError as exc:
            context["error"] = str(exc)
            return render(request, "bookings/cancel.html", context, status=400)
        messages.success(request, "Your appointment is cancelled.")
        return redirect("bookings:appointment", appointment_id=appointment.pk)
    if appointment.status != AppointmentStatus.CONFIRMED or appointment.start <= now:
        context["error"] = "This appointment can no longer be cancelled."
    return render(request, "bookings/cancel.html", context)


@require_http_methods(["GET", "POST"])
def appointment_reschedule(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    service = appointment.service
    error = None
    if request.method == "POST":
        slot_key = form_uuid(request.POST.get("slot"))
        if slot_key is None:
            error = "Pick a new time."
        else:
            try:
                reschedule_request(appointment=appointment, customer=request.user, new_slot_id=slot_key)  # type: ignore[arg-type]
            except DomainError as exc:
                error = str(exc)
            else:
                messages.success(request, "Request sent. The new time is held for you until the provider answers.")
                return redirect("bookings:appointment", appointment_id=appointment.pk)
    zone = visitor_zone(request)
    tz = ZoneInfo(zone) if zone else None
    picked = pick_day(request.GET, service=service, tz=tz, ignoring=appointment)
    context = {
        "appointment": appointment,
        "provider": appointment.provider,
        "service": service,
        "day": picked.day,
        "month": picked.month,
        "outside": picked.outside,
        "slots": picked.slots,
        "error": error,
        "blocked": appointment.status != AppointmentStatus.CONFIRMED or bool(appointment.pending_requests),  # type: ignore[attr-defined]
    }
    return render(request, "bookings/reschedule.html", context, status=400 if error else 200)


@require_POST
def appointment_reschedule_withdraw(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    try:
        reschedule_withdraw(appointment=appointment, customer=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Request withdrawn. Your appointment stays at its time.")
    return redirect("bookings:appointment", appointment_id=appointment.pk)


def _page_number(request: HttpRequest, name: str) -> int:
    """A page number from the query string: the first page when missing, malformed or absurd."""
    try:
        return min(max(int(request.GET.get(name, "1")), 1), 10_000)
    except ValueError:
        return 1


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    if denied := _customer_only(request):
        return denied
    customer = request.user
    now = timezone.now()
    past = request.GET.get("show") == "past"
    mine = selectors.account_appointments(
        customer=customer,  # type: ignore[arg-type]
        now=now,
        past=past,
        page=_page_number(request, "page"),
    )
    changeable = {a.pk for a in mine.rows if a.changeable_by_customer(now)}
    messages_in, messages_sent = inbox_and_history(user=customer, inbox_limit=10, history_limit=20)  # type: ignore[arg-type]
    return render(
        request,
        "bookings/account.html",
        {
            "summary": selectors.account_summary(customer=customer, next_appointment=mine.next_appointment, now=now),  # type: ignore[arg-type]
            "shown": mine,
            "changeable": changeable,
            "inbox": messages_in,
            "history": messages_sent,
            "history_tz": visitor_zone(request) or "UTC",
            **preference_context(customer),
            **tokens_context(customer),
        },
    )


@require_GET
def appointment_receipt(request: HttpRequest, appointment_id: uuid.UUID) -> HttpResponse:
    """The receipt of what was paid online for an appointment and of every refund against it
    (404 when nothing was paid online: at the venue, free, or an unpaid hold)."""
    if denied := _customer_only(request):
        return denied
    appointment = selectors.appointment_get_for_customer(customer=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    payment = selectors.payment_for(appointment=appointment)
    if payment is None:
        raise Http404("nothing was paid online for this appointment")
    refunds = selectors.refunds_for(appointment=appointment)
    refunded = sum(r.amount_minor for r in refunds if r.status == "succeeded")
    context = {
        "appointment": appointment,
        "provider": appointment.provider,
        "payment": payment,
        "refunds": refunds,
        "net_minor": payment.amount_minor - refunded,
    }
    return render(request, "bookings/receipt.html", context)
