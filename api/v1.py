"""`/api/v1/`: the JSON API for scripts and AI agents (django-ninja: the OpenAPI 3.1 document
at /api/v1/openapi.json and its docs at /api/v1/docs are generated from these signatures).

Same services and selectors as the pages, same wording. A person's personal access token
(`Authorization: Bearer apt_…`, scoped, rate-limited per token) or the site's own session (with
CSRF) authenticates. A model never sets a price, a status or another person's id: bookings are
proposed, then confirmed by the person's own call, and money moves only on the gateway's page.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Path, Query, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import SimpleRateThrottle

from api import operations as ops
from api.models import AccessToken
from api.tokens import ScopeMissing, TokenInvalid, token_authenticate
from appointly.core import DomainError
from appointly.errors import json_error

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


def actor(request: HttpRequest) -> ops.Actor:
    return ops.Actor(user=request.user, token=getattr(request, "access_token", None))  # type: ignore[arg-type]


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


@api.exception_handler(ops.Conflict)
def _conflict(request: HttpRequest, exc: ops.Conflict) -> HttpResponse:
    code = "time_taken" if "alternatives" in exc.details or "taken" in str(exc) else "conflict"
    return _error(409, code, str(exc), **exc.details)


@api.exception_handler(ops.Unavailable)
def _unavailable(request: HttpRequest, exc: ops.Unavailable) -> HttpResponse:
    return _error(503, "unavailable", str(exc))


@api.exception_handler(DomainError)
def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(422, "not_allowed", str(exc))


# --- schemas -----------------------------------------------------------------------------------

# What the site refuses in any text before a view runs (appointly.middleware): C0 control
# characters other than tab, newline and carriage return, and DEL. Said in the schema too.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
SLUG = r"^[-a-zA-Z0-9_]*$"
SLUG_OR_ZONE = r"^[-a-zA-Z0-9_/+]*$"
SLUG_PATH = Path(..., max_length=200, pattern=r"^[-a-zA-Z0-9_]+$", description="The service's slug")


class Error(Schema):
    code: str
    message: str
    details: dict[str, Any]


# Every operation may answer these (400: control characters or a body that is not JSON, refused
# before any view; 413: a body over 64 KiB; 503: the payment service not answering).
ERRORS: dict[int, type[Schema]] = {
    400: Error,
    401: Error,
    403: Error,
    404: Error,
    409: Error,
    413: Error,
    422: Error,
    429: Error,
    503: Error,
}


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
    name: str = Field("", max_length=120, pattern=TEXT)
    phone: str = Field("", max_length=32, pattern=r"^[+0-9 ()./-]*$", description="A phone number, e.g. +351912345678")
    notes: str = Field("", max_length=500, pattern=TEXT)


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
    ids: list[Annotated[str, Field(max_length=64, pattern=TEXT)]] = Field(min_length=1, max_length=MAX_BULK)
    reason: str = Field("", max_length=200, pattern=TEXT)


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


# --- customers -------------------------------------------------------------------------------


@api.get("/services", response={200: list[ServiceOut], **ERRORS}, tags=["services"], summary="Search services")
def services(
    request: HttpRequest,
    q: str = Query(
        "", max_length=100, pattern=TEXT, description="Words in the name, description, category or business"
    ),
    category: str = Query("", max_length=60, pattern=SLUG, description="A category slug"),
    limit: int = Query(20, ge=1, le=50),
) -> list[dict[str, Any]]:
    return ops.services_find(actor(request), q=q, category=category, limit=limit)


@api.get("/services/{slug}", response={200: ServiceDetail, **ERRORS}, tags=["services"], summary="A service")
def service(request: HttpRequest, slug: str = SLUG_PATH) -> dict[str, Any]:
    return ops.service_details(actor(request), slug=slug)


@api.get(
    "/services/{slug}/times",
    response={200: list[FreeTime], **ERRORS},
    tags=["services"],
    summary="Free times in a date range",
)
def free_times(
    request: HttpRequest,
    slug: str = SLUG_PATH,
    start: date = Query(..., description="First day (in `tz`)"),
    days: int = Query(1, ge=1, le=ops.MAX_DAYS),
    tz: str = Query(
        "", max_length=64, pattern=SLUG_OR_ZONE, description="IANA zone to show times in; default the provider's"
    ),
) -> list[dict[str, Any]]:
    return ops.free_times(actor(request), slug=slug, start=start, days=days, tz=tz)


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
    return Status(201, ops.booking_propose(actor(request), **body.dict()))


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
    return ops.booking_confirm(actor(request), appointment_id=appointment_id, idempotency_key=body.idempotency_key)


@api.get("/appointments", response={200: list[AppointmentOut], **ERRORS}, tags=["appointments"], summary="Mine")
def my_appointments(request: HttpRequest, past: bool = False) -> list[dict[str, Any]]:
    return ops.appointments_mine(actor(request), past=past)


@api.post(
    "/appointments/{appointment_id}/cancel",
    response={200: CancelOut, **ERRORS},
    tags=["appointments"],
    summary="Cancel (or a dry run: the refund first)",
)
def cancel(request: HttpRequest, appointment_id: uuid.UUID, body: CancelIn) -> dict[str, Any]:
    return ops.appointment_cancel(actor(request), appointment_id=appointment_id, **body.dict())


@api.post(
    "/appointments/{appointment_id}/reschedule",
    response={201: AppointmentOut, **ERRORS},
    tags=["appointments"],
    summary="Ask the provider to move it to another free time",
)
def reschedule(request: HttpRequest, appointment_id: uuid.UUID, body: RescheduleIn) -> Status[dict[str, Any]]:
    return Status(201, ops.appointment_reschedule(actor(request), appointment_id=appointment_id, slot_id=body.slot_id))


@api.post(
    "/appointments/{appointment_id}/reschedule/withdraw",
    response={200: AppointmentOut, **ERRORS},
    tags=["appointments"],
    summary="Withdraw a reschedule request",
)
def reschedule_take_back(request: HttpRequest, appointment_id: uuid.UUID) -> dict[str, Any]:
    return ops.appointment_reschedule_withdraw(actor(request), appointment_id=appointment_id)


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
    return ops.provider_appointments(actor(request), start=start, days=days)


@api.post(
    "/provider/appointments/cancel",
    response={200: BulkCancelOut, **ERRORS},
    tags=["provider"],
    summary="Cancel several appointments (full refunds; per-id results)",
)
def provider_bulk_cancel(request: HttpRequest, body: BulkCancelIn) -> dict[str, Any]:
    return ops.provider_cancel(actor(request), ids=body.ids, reason=body.reason)


@api.post(
    "/provider/appointments/{appointment_id}/attendance",
    response={200: ProviderAppointmentOut, **ERRORS},
    tags=["provider"],
    summary="Mark attended or no-show",
)
def provider_attendance(request: HttpRequest, appointment_id: uuid.UUID, body: AttendanceIn) -> dict[str, Any]:
    return ops.provider_attendance(actor(request), appointment_id=appointment_id, attended=body.attended)
