"""`/api/v1/`: the JSON API for scripts and AI agents (django-ninja: the OpenAPI 3.1 document
at /api/v1/openapi.json and its docs at /api/v1/docs are generated from these signatures).

Same services and selectors as the pages, same wording. A person's personal access token
(`Authorization: Bearer apt_…`, scoped, rate-limited per token) or the site's own session (with
CSRF) authenticates. A model never sets a price, a status or another person's id: bookings are
proposed, then confirmed by the person's own call, and money moves only on the gateway's page.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import SimpleRateThrottle

from api.actor import acting_as
from api.models import AccessToken, Scope
from api.tokens import ScopeMissing, TokenInvalid, token_authenticate, token_require
from appointly.core import DomainError
from appointly.errors import json_error
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


# --- authentication, scopes, rate limits ------------------------------------------------------


class BearerToken(HttpBearer):
    """A personal access token. (Never logs the header, whatever its scheme.)"""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get("Authorization", "")
        scheme, _, raw = value.partition(" ")
        if scheme.lower() != "bearer" or not raw:
            return None
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> AccessToken:
        found = token_authenticate(token)
        request.user = found.user  # type: ignore[assignment]
        request.access_token = found  # type: ignore[attr-defined]
        return found


class Session(SessionAuth):
    """The site's own calls: a signed-in session, with Django's CSRF check."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None:
            request.access_token = None  # type: ignore[attr-defined]
        return user


class TokenRateThrottle(SimpleRateThrottle):
    """API_TOKEN_RATE (e.g. 120/m) per token; session calls are limited elsewhere."""

    scope = "token"

    def __init__(self) -> None:
        super().__init__(settings.API_TOKEN_RATE)

    def allow_request(self, request: HttpRequest) -> bool:
        # The setting is read per call (tests and operators may change it).
        self.rate = settings.API_TOKEN_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "access_token", None)
        return f"api-token-{token.pk}" if token is not None else None


api = NinjaAPI(
    title="Appointly API",
    version="1",
    description=(
        "Book, reschedule and cancel appointments, for scripts and AI agents. Authenticate with a "
        "personal access token (`Authorization: Bearer apt_…`) made on your account page; every "
        "token has scopes and is rate-limited (429 with `Retry-After`). Errors are always "
        "`{code, message, details}`. A booking is proposed (the time is held), then confirmed by "
        "your call; paid services are paid by the person on the payment provider's page "
        "(`checkout_url`)."
    ),
    urls_namespace="api_v1",
    auth=[BearerToken(), Session()],
    throttle=[TokenRateThrottle()],
    openapi_extra={"info": {"contact": {"name": "Appointly"}}},
)


def need(request: HttpRequest, scope: str) -> Any:
    """The person behind the call, once the token (if any) has the scope; sessions have all
    the scopes their kind of account allows."""
    token = getattr(request, "access_token", None)
    user = request.user
    if scope == Scope.PROVIDER and not getattr(user, "is_provider", False):
        raise ScopeMissing("This operation is for provider accounts.")
    if scope in (Scope.BOOK, Scope.CANCEL) and getattr(user, "is_provider", False):
        raise ScopeMissing("Provider accounts cannot book appointments. Use a customer account.")
    if token is not None:
        token_require(token, scope)
    return user


def agent_label(request: HttpRequest) -> dict[str, str]:
    token = getattr(request, "access_token", None)
    return {"via": "agent", "token": token.name} if token is not None else {"via": "api"}


# --- errors: the project's one body -------------------------------------------------------------


def _error(status: int, code: str, message: str, **details: Any) -> HttpResponse:
    return json_error(status, code, message, **details)


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(422, "invalid_request", "Some fields are not valid.", errors=_clean_errors(exc.errors))


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in e.get("loc", [])], "msg": str(e.get("msg", ""))} for e in errors]


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(401, "unauthenticated", "Send a personal access token: `Authorization: Bearer apt_…`.")


@api.exception_handler(TokenInvalid)
def _token_invalid(request: HttpRequest, exc: TokenInvalid) -> HttpResponse:
    return _error(401, "token_invalid", str(exc))


@api.exception_handler(ScopeMissing)
def _scope_missing(request: HttpRequest, exc: ScopeMissing) -> HttpResponse:
    return _error(403, "forbidden", str(exc))


@api.exception_handler(AuthorizationError)
def _forbidden(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return _error(403, "forbidden", str(exc) or "This account may not do that.")


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = _error(429, "rate_limited", "Too many requests with this token. Please wait and try again.")
    response["Retry-After"] = str(int(exc.wait or 60))
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(404, "not_found", "There is nothing with that id that you may see.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 403 and "CSRF" in message:
        return _error(403, "csrf_failed", "The CSRF token is missing or wrong: send it in X-CSRFToken.")
    if exc.status_code == 400 and "parse request body" in message:
        return _error(400, "invalid_json", "The body must be JSON.")
    code = {409: "conflict", 503: "unavailable"}.get(exc.status_code, "error")
    return _error(exc.status_code, code, message)


@api.exception_handler(SlotUnavailable)
def _taken(request: HttpRequest, exc: SlotUnavailable) -> HttpResponse:
    return _error(409, "time_taken", str(exc), **getattr(request, "conflict_details", {}))


@api.exception_handler(DomainError)
def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(422, "not_allowed", str(exc))


# --- schemas -----------------------------------------------------------------------------------


class Error(Schema):
    code: str
    message: str
    details: dict[str, Any]


ERRORS: dict[int, type[Schema]] = {401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 429: Error}


class Money(Schema):
    amount_minor: int = Field(description="In the currency's smallest unit (cents).")
    currency: str
    display: str


class ServiceOut(Schema):
    slug: str
    name: str
    provider: str
    category: str
    duration_minutes: int
    price: Money
    payment: str = Field(description="online (paid when confirming), venue (paid there) or free")
    where: str
    timezone: str = Field(description="The provider's zone; times are wall-clock there.")


class ServiceDetail(ServiceOut):
    description: str
    refund_policy: list[str]
    booking_window_days: int
    min_notice_minutes: int


class FreeTime(Schema):
    slot_id: uuid.UUID
    start: datetime = Field(description="In the zone asked for (`tz`), with its offset.")
    end: datetime
    provider_local: str


class ProposeIn(Schema):
    slot_id: uuid.UUID
    idempotency_key: uuid.UUID = Field(description="Any new UUID; repeating it returns the same booking.")
    name: str = Field("", max_length=120)
    phone: str = Field("", max_length=32)
    notes: str = Field("", max_length=500)


class ConfirmIn(Schema):
    idempotency_key: uuid.UUID


class AppointmentOut(Schema):
    id: uuid.UUID
    status: str
    service: str
    provider: str
    start: datetime
    end: datetime
    price: Money
    payment: str
    refund_policy: list[str]
    hold_expires_at: datetime | None
    pay_url: str | None = Field(None, description="Our page for paying (while a paid booking is held).")


class CheckoutOut(Schema):
    appointment: AppointmentOut
    checkout_url: str | None = Field(
        None, description="The payment provider's page where the person pays; null when nothing is to pay."
    )


class CancelIn(Schema):
    dry_run: bool = Field(False, description="Only say what would be refunded.")
    expected_refund_minor: int | None = Field(
        None, description="The refund a dry run showed; if it changed since, nothing is cancelled (409)."
    )


class CancelOut(Schema):
    cancelled: bool
    refund: Money
    appointment: AppointmentOut


class RescheduleIn(Schema):
    slot_id: uuid.UUID


class BulkCancelIn(Schema):
    ids: list[str] = Field(min_length=1, max_length=MAX_BULK)
    reason: str = Field("", max_length=200)


class BulkResultOut(Schema):
    id: str
    outcome: str


class BulkCancelOut(Schema):
    results: list[BulkResultOut]


class AttendanceIn(Schema):
    attended: bool


class ProviderAppointmentOut(AppointmentOut):
    customer: str
    checked_in_at: datetime | None


def _money(minor: int, currency: str) -> Money:
    return Money(amount_minor=minor, currency=currency, display=format_money(minor, currency))


def _payment(mode: str, price_minor: int) -> str:
    return "free" if mode == "free" or price_minor == 0 else mode


def _service_out(service: Service, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slug": service.slug,
        "name": service.name,
        "provider": service.provider.business_name,
        "category": service.category.name,
        "duration_minutes": service.duration_minutes,
        "price": _money(service.price_minor, service.currency),
        "payment": _payment(service.payment_mode, service.price_minor),
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


def _appointment_out(a: Appointment) -> dict[str, Any]:
    held = a.status == AppointmentStatus.HELD
    return {
        "id": a.pk,
        "status": a.status,
        "service": a.service.name,
        "provider": a.provider.business_name,
        "start": a.start,
        "end": a.end,
        "price": _money(a.price_minor, a.currency),
        "payment": "venue" if a.pay_at_venue else ("free" if a.price_minor == 0 else "online"),
        "refund_policy": a.refund_policy.lines,
        "hold_expires_at": a.hold_expires_at if held else None,
        "pay_url": _site(reverse("bookings:pay", args=[a.pk])) if held else None,
    }


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _zone(tz: str, fallback: str) -> ZoneInfo:
    if tz and not is_zone(tz):
        raise DomainError(f"{tz!r} is not a time zone name like Europe/Lisbon.")
    return ZoneInfo(tz or fallback)


# --- customers -------------------------------------------------------------------------------


@api.get("/services", response={200: list[ServiceOut], **ERRORS}, tags=["services"], summary="Search services")
def services(
    request: HttpRequest,
    q: str = Query("", max_length=100, description="Words in the name, description, category or business"),
    category: str = Query("", max_length=60, description="A category slug"),
    limit: int = Query(20, ge=1, le=50),
) -> list[dict[str, Any]]:
    need(request, Scope.READ)
    return [_service_out(s) for s in services_search(q=q, category=category)[:limit]]


@api.get("/services/{slug}", response={200: ServiceDetail, **ERRORS}, tags=["services"], summary="A service")
def service(request: HttpRequest, slug: str) -> dict[str, Any]:
    need(request, Scope.READ)
    return _service_out(service_get_public(slug=slug[:200]), detail=True)


@api.get(
    "/services/{slug}/times",
    response={200: list[FreeTime], **ERRORS},
    tags=["services"],
    summary="Free times in a date range",
)
def free_times(
    request: HttpRequest,
    slug: str,
    start: date = Query(..., description="First day (in `tz`)"),
    days: int = Query(1, ge=1, le=MAX_DAYS),
    tz: str = Query("", max_length=64, description="IANA zone to show times in; default the provider's"),
) -> list[dict[str, Any]]:
    need(request, Scope.READ)
    found = service_get_public(slug=slug[:200])
    zone = _zone(tz, found.provider.timezone)
    provider_zone = ZoneInfo(found.provider.timezone)
    out = []
    for offset in range(days):
        for slot in availability.offered_on(service=found, day=start + timedelta(days=offset), tz=zone):
            local = slot.start.astimezone(provider_zone)
            out.append(
                {
                    "slot_id": slot.pk,
                    "start": slot.start.astimezone(zone),
                    "end": slot.end.astimezone(zone),
                    "provider_local": f"{local:%Y-%m-%d %H:%M} {found.provider.timezone}",
                }
            )
    return out


@api.post(
    "/bookings",
    response={201: AppointmentOut, **ERRORS},
    tags=["bookings"],
    summary="Propose a booking (holds the time)",
    description=(
        "Holds the time for the person and returns the price, the refund policy and the hold's "
        "deadline. Nothing is booked until `confirm` (paid services: until the payment goes "
        "through). A taken time answers 409 with `details.alternatives`."
    ),
)
def propose(request: HttpRequest, body: ProposeIn) -> Status[dict[str, Any]]:
    customer = need(request, Scope.BOOK)
    details = CustomerDetails(body.name, body.phone, body.notes)
    slot = selectors.slot_find(slot_id=body.slot_id)
    with acting_as(**agent_label(request)):
        try:
            held = appointment_hold(
                customer=customer, slot_id=body.slot_id, idempotency_key=str(body.idempotency_key), details=details
            )
        except SlotUnavailable:
            if slot is not None:
                others = availability.alternatives(service=slot.service, excluding=slot.pk, limit=5)
                request.conflict_details = {  # type: ignore[attr-defined]
                    "alternatives": [{"slot_id": str(s.pk), "start": s.start.isoformat()} for s in others]
                }
            raise
    return Status(
        201, _appointment_out(selectors.appointment_get_for_customer(customer=customer, appointment_id=held.pk))
    )


@api.post(
    "/bookings/{appointment_id}/confirm",
    response={200: CheckoutOut, **ERRORS},
    tags=["bookings"],
    summary="Confirm a proposed booking",
    description=(
        "For a paid service, returns `checkout_url`: the payment provider's page where the "
        "person pays; the booking is confirmed when the payment goes through. Free and "
        "pay-at-venue services are confirmed already. The same `idempotency_key` returns the same page."
    ),
)
def confirm(request: HttpRequest, appointment_id: uuid.UUID, body: ConfirmIn) -> dict[str, Any]:
    customer = need(request, Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    if appointment.status == AppointmentStatus.CONFIRMED:
        return {"appointment": _appointment_out(appointment), "checkout_url": None}
    with acting_as(**agent_label(request)):
        try:
            checkout = appointment_checkout(
                appointment=appointment,
                customer=customer,
                payment_key=str(body.idempotency_key),
                success_url=_site(reverse("bookings:pay_return", args=[appointment.pk])),
                cancel_url=_site(reverse("bookings:pay", args=[appointment.pk]) + "?cancelled=1"),
            )
        except (HoldExpired, PaymentInProgress) as exc:
            raise HttpError(409, str(exc)) from exc
        except PaymentServiceUnavailable as exc:
            raise HttpError(503, str(exc)) from exc
    fresh = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment.pk)
    return {"appointment": _appointment_out(fresh), "checkout_url": checkout.url or None}


@api.get("/appointments", response={200: list[AppointmentOut], **ERRORS}, tags=["appointments"], summary="Mine")
def my_appointments(request: HttpRequest, past: bool = False) -> list[dict[str, Any]]:
    customer = need(request, Scope.READ)
    if getattr(customer, "is_provider", False):
        raise ScopeMissing("Provider accounts have no appointments as customers: use /provider/appointments.")
    found = (selectors.appointments_past if past else selectors.appointments_upcoming)(customer=customer)
    return [_appointment_out(a) for a in found]


@api.post(
    "/appointments/{appointment_id}/cancel",
    response={200: CancelOut, **ERRORS},
    tags=["appointments"],
    summary="Cancel (or a dry run: the refund first)",
)
def cancel(request: HttpRequest, appointment_id: uuid.UUID, body: CancelIn) -> dict[str, Any]:
    customer = need(request, Scope.CANCEL)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    now = timezone.now()
    if not appointment.changeable_by_customer(now):
        raise BookingNotAllowed("This appointment cannot be cancelled any more.")
    refund = refund_for_customer_cancel(appointment, now)
    if body.dry_run:
        return {
            "cancelled": False,
            "refund": _money(refund, appointment.currency),
            "appointment": _appointment_out(appointment),
        }
    with acting_as(**agent_label(request)):
        try:
            done = appointment_cancel_by_customer(
                appointment=appointment, customer=customer, expected_refund_minor=body.expected_refund_minor
            )
        except RefundChanged as exc:
            raise HttpError(409, f"The refund is now {format_money(exc.refund_minor, appointment.currency)}.") from exc
    fresh = selectors.appointment_get_for_customer(customer=customer, appointment_id=done.pk)
    return {"cancelled": True, "refund": _money(refund, appointment.currency), "appointment": _appointment_out(fresh)}


@api.post(
    "/appointments/{appointment_id}/reschedule",
    response={201: AppointmentOut, **ERRORS},
    tags=["appointments"],
    summary="Ask the provider to move it to another free time",
)
def reschedule(request: HttpRequest, appointment_id: uuid.UUID, body: RescheduleIn) -> Status[dict[str, Any]]:
    customer = need(request, Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    with acting_as(**agent_label(request)):
        reschedule_request(appointment=appointment, customer=customer, new_slot_id=body.slot_id)
    return Status(201, _appointment_out(appointment))


@api.post(
    "/appointments/{appointment_id}/reschedule/withdraw",
    response={200: AppointmentOut, **ERRORS},
    tags=["appointments"],
    summary="Withdraw a reschedule request",
)
def reschedule_take_back(request: HttpRequest, appointment_id: uuid.UUID) -> dict[str, Any]:
    customer = need(request, Scope.BOOK)
    appointment = selectors.appointment_get_for_customer(customer=customer, appointment_id=appointment_id)
    with acting_as(**agent_label(request)):
        reschedule_withdraw(appointment=appointment, customer=customer)
    return _appointment_out(appointment)


# --- providers -------------------------------------------------------------------------------


@api.get(
    "/provider/appointments",
    response={200: list[ProviderAppointmentOut], **ERRORS},
    tags=["provider"],
    summary="My business's appointments in a date range",
)
def provider_appointments(
    request: HttpRequest, start: date = Query(...), days: int = Query(1, ge=1, le=31)
) -> list[dict[str, Any]]:
    user = need(request, Scope.PROVIDER)
    provider = user.provider
    zone = ZoneInfo(provider.timezone)
    begin = datetime.combine(start, datetime.min.time(), tzinfo=zone)
    found = selectors.provider_day(provider=provider, start=begin, end=begin + timedelta(days=days))
    return [_appointment_out(a) | {"customer": a.customer_label, "checked_in_at": a.checked_in_at} for a in found]


@api.post(
    "/provider/appointments/cancel",
    response={200: BulkCancelOut, **ERRORS},
    tags=["provider"],
    summary="Cancel several appointments (full refunds; per-id results)",
)
def provider_bulk_cancel(request: HttpRequest, body: BulkCancelIn) -> dict[str, Any]:
    user = need(request, Scope.PROVIDER)
    with acting_as(**agent_label(request)):
        results = appointments_cancel_bulk(provider=user.provider, ids=body.ids, reason=body.reason)
    return {"results": [{"id": r.id, "outcome": r.outcome} for r in results]}


@api.post(
    "/provider/appointments/{appointment_id}/attendance",
    response={200: ProviderAppointmentOut, **ERRORS},
    tags=["provider"],
    summary="Mark attended or no-show",
)
def provider_attendance(request: HttpRequest, appointment_id: uuid.UUID, body: AttendanceIn) -> dict[str, Any]:
    user = need(request, Scope.PROVIDER)
    appointment = selectors.provider_appointment_get(provider=user.provider, appointment_id=appointment_id)
    with acting_as(**agent_label(request)):
        done = appointment_mark_attendance(appointment=appointment, provider=user.provider, attended=body.attended)
    return _appointment_out(done) | {"customer": done.customer_label, "checked_in_at": done.checked_in_at}
