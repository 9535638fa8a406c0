"""What "bookable" means, in one place (docs/adr/0011).

A slot is an *offer*. It is bookable when, at `now`:
- its service is active and its provider has finished onboarding;
- it starts after now plus the service's minimum notice;
- its provider-local date lies inside the service's booking window;
- its date is not a closed date of the provider;
- it overlaps no claimed time of the provider (an active, attended or no-show appointment, or the
  target of a pending reschedule request; `bookings.models.TimeClaim`);
- the service's per-day limit is not reached on its date (claims of the service that day).

`offers_of()` is that definition as a queryset (`offers()` for one service): the service page,
the provider's Services page, the reschedule page, the "just taken" alternatives and the
booking services under their locks all use it, so a page can never show as free a time that
the service would refuse, nor the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    Exists,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from appointly.compiled import AnyOf, Compiled, Pick
from appointly.core import DomainError
from bookings.models import Appointment, TimeClaim
from providers.models import LONGEST_APPOINTMENT, HoursException, OnboardingStep, Service, Slot
from providers.services import service_horizon


class SlotUnavailable(DomainError):
    """The time was just taken, or is no longer offered; the page offers alternatives."""


class BookingNotAllowed(DomainError):
    """The request breaks a booking rule; the message says which."""


def _claims_except(ignoring_id: Any | None) -> QuerySet[TimeClaim]:
    claims = TimeClaim.objects.all()
    if ignoring_id is not None:
        claims = claims.exclude(appointment_id=ignoring_id).exclude(reschedule__appointment_id=ignoring_id)
    return claims


def overlapping_claims(*, provider_id: Any, start: Any, end: Any) -> Any:
    return TimeClaim.objects.filter(provider_id=provider_id, start__lt=end, end__gt=start)


def offers(service: Service, *, now: datetime | None = None, ignoring: Appointment | None = None) -> QuerySet[Slot]:
    """The service's bookable slots (see the module docstring). `ignoring`: the appointment
    being rescheduled, which does not count toward its own day's limit. Its own time still
    blocks: a request claims its new time while the appointment keeps the old one, and the
    database refuses the two to overlap (a move to a time overlapping the current one is not
    offered)."""
    return offers_of([service], now=now, ignoring=ignoring)


def offers_of(
    services: Sequence[Service], *, now: datetime | None = None, ignoring: Appointment | None = None
) -> QuerySet[Slot]:
    """The bookable slots of these services, in one queryset: the definition, with each
    service's own notice, window and per-day limit (for one service, its values; for several,
    chosen by the slot's service). A page of services is counted with one query built once,
    not one definition per service (ADR 0022)."""
    now = now or timezone.now()
    terms = _terms(services, now)
    if terms is None:
        return Slot.objects.none()
    if len(terms[0]) == 1:
        (service,) = (s for s in services if s.pk in terms[0])
        one = _service_terms(service, now, ignoring)
        return _one_service(Slot.objects.filter(service_id=service.pk), one) if one else Slot.objects.none()
    return _offers_of_many(**_as_lists(terms), ignoring_id=ignoring.pk if ignoring is not None else None)


def _as_lists(terms: Terms) -> dict[str, Any]:
    """Several services' terms as `_offers_of_many` takes them: one list per term, in the
    order of `service_ids`, and the lowest earliest start."""
    earliest, last_day, limit = terms
    ids = list(earliest)
    return {
        "service_ids": ids,
        "earliest": [earliest[pk] for pk in ids],
        "last_day": [last_day[pk] for pk in ids],
        "limit": [limit[pk] for pk in ids],
        "lowest": min(earliest.values()),
    }


def is_offered(slot: Slot, service: Service, *, now: datetime, ignoring: Appointment | None = None) -> bool:
    """Whether `offers(service, now=now, ignoring=ignoring)` holds this slot: the same
    definition, as a read compiled once per process (ADR 0029; the hold's check)."""
    terms = _service_terms(service, now, ignoring)
    return terms is not None and _OFFERED.first(slot_id=slot.pk, **terms) is not None


def _service_terms(service: Service, now: datetime, ignoring: Appointment | None) -> dict[str, Any] | None:
    """One service's terms as the compiled reads of its offers take them; None when the
    service is not offered at all."""
    terms = _terms([service], now)
    if terms is None:
        return None
    earliest, last_day, limit = terms[0][service.pk], terms[1][service.pk], terms[2][service.pk]
    provider_id, claims_from, claims_until = _claims_near(service, earliest, last_day)
    ignoring_id = {"ignoring_id": ignoring.pk} if ignoring is not None else {}
    return {
        "service_id": service.pk,
        "earliest": earliest,
        "last_day": last_day,
        "limit": limit,
        "provider_id": provider_id,
        "claims_from": claims_from,
        "claims_until": claims_until,
        **ignoring_id,
    }


ClaimsNear = tuple[Any, datetime, datetime]


def _claims_near(service: Service, earliest: datetime, last_day: date) -> ClaimsNear:
    """The provider and the span of start times of the claims that can overlap an offer of this
    service from `earliest` to the end of `last_day`: no claim is longer than the longest
    service, and no offer ends later than the longest service after its day."""
    day_after = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=ZoneInfo(service.provider.timezone))
    return service.provider_id, earliest - LONGEST_APPOINTMENT, day_after + LONGEST_APPOINTMENT


Terms = tuple[dict[Any, datetime], dict[Any, date], dict[Any, int]]


def _terms(services: Sequence[Service], now: datetime) -> Terms | None:
    """Each offered service's earliest start, last day and per-day limit; None when none is
    offered (inactive, or its provider still onboarding)."""
    live = [s for s in services if s.is_active and s.provider.onboarding_step == OnboardingStep.DONE]
    if not live:
        return None
    tick = now + timedelta(microseconds=1)
    return (
        {s.pk: max(tick, now + timedelta(minutes=s.min_notice_minutes)) for s in live},
        {s.pk: service_horizon(s, now)[1] for s in live},
        {s.pk: s.max_appointments_per_day for s in live},
    )


def _offers(
    slots: QuerySet[Slot],
    *,
    earliest: Any,
    last_day: Any,
    limit: Any,
    lowest: Any,
    ignoring_id: Any | None,
    near: ClaimsNear | None = None,
) -> QuerySet[Slot]:
    """The definition's queryset over these slots (of one service, or of several from `lowest`),
    from each service's terms (a value, or one chosen by the slot's service) and the lowest
    earliest start among them. `near`: for one service, where the claims that can overlap its
    offers lie (`_claims_near`)."""
    # `end > lowest` follows from the overlap (every offer starts at or after its `earliest`)
    # and is a constant: the claims of years past drop out before any join (ADR 0022).
    taken = TimeClaim.objects.filter(end__gt=lowest)
    if near is not None:
        # Implied by the overlap too, and by the provider's offers being theirs; spelled out so
        # that the (provider, start) index reads only the window's claims even in a prepared
        # statement's generic plan (which hashed all 100,000 of a provider's claims: 7 ms).
        provider_id, claims_from, claims_until = near
        taken = taken.filter(provider_id=provider_id, start__gt=claims_from, start__lt=claims_until)
    taken = taken.filter(provider_id=OuterRef("provider_id"), start__lt=OuterRef("end"), end__gt=OuterRef("start"))
    closed = HoursException.objects.filter(
        provider_id=OuterRef("provider_id"), date=OuterRef("slot_date"), start_time__isnull=True
    )
    that_day = (
        _claims_except(ignoring_id)
        .filter(service_id=OuterRef("service_id"), local_date=OuterRef("slot_date"))
        .order_by()
        .values("service_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return (
        slots.filter(start__gte=earliest, slot_date__lte=last_day)
        .filter(~Exists(taken), ~Exists(closed))
        .alias(day_taken=Coalesce(Subquery(that_day, output_field=IntegerField()), Value(0)))
        .filter(day_taken__lt=limit)
    )


def _one_service(slots: QuerySet[Slot], terms: dict[str, Any]) -> QuerySet[Slot]:
    """The definition over one service's slots, on that service's terms (`_service_terms`)."""
    return _offers(
        slots,
        earliest=terms["earliest"],
        last_day=terms["last_day"],
        limit=terms["limit"],
        lowest=terms["earliest"],
        ignoring_id=terms.get("ignoring_id"),
        near=(terms["provider_id"], terms["claims_from"], terms["claims_until"]),
    )


def _offered_slot(slot_id: Any, service_id: Any, **terms: Any) -> QuerySet[Any]:
    """One slot of one service, if it is offered (with or without an appointment to ignore:
    two shapes of one compiled read, ADR 0029)."""
    return _one_service(Slot.objects.filter(pk=slot_id, service_id=service_id), terms).values("pk")


_OFFERED: Compiled[Any] = Compiled(_offered_slot)


def _offered_days(service_id: Any, **terms: Any) -> QuerySet[Any]:
    """One service's offers counted per (provider's) day."""
    offered = _one_service(Slot.objects.filter(service_id=service_id), terms).order_by()
    return offered.values("slot_date").annotate(n=Count("id")).values_list("slot_date", "n")


def _offered_on(service_id: Any, day: date, **terms: Any) -> QuerySet[Slot]:
    """One service's offers on one (provider's) day, in order."""
    offered = _one_service(Slot.objects.filter(service_id=service_id, slot_date=day), terms)
    return offered.order_by("start").only("id", "start", "end")


_DAYS: Compiled[Any] = Compiled(_offered_days)
_ON: Compiled[Slot] = Compiled(_offered_on)


def _offers_of_many(
    service_ids: list[Any],
    earliest: list[datetime],
    last_day: list[date],
    limit: list[int],
    lowest: datetime,
    ignoring_id: Any = None,
) -> QuerySet[Slot]:
    """Several services' offers, each on its own terms (lists in the order of `service_ids`):
    one SQL shape however many services, so it compiles once (ADR 0029); the (service, start)
    index reads each service's range from the lowest `earliest`."""
    return _offers(
        Slot.objects.filter(AnyOf("service_id", service_ids, "uuid"), start__gte=lowest),
        earliest=Pick("service_id", service_ids, "uuid", earliest, "timestamptz", DateTimeField()),
        last_day=Pick("service_id", service_ids, "uuid", last_day, "date", DateField()),
        limit=Pick("service_id", service_ids, "uuid", limit, "integer", IntegerField()),
        lowest=lowest,
        ignoring_id=ignoring_id,
    )


def _free_counts(
    service_ids: list[Any], earliest: list[datetime], last_day: list[date], limit: list[int], lowest: datetime
) -> QuerySet[Any]:
    offered = _offers_of_many(service_ids, earliest, last_day, limit, lowest).order_by()
    return offered.values("service_id").annotate(n=Count("id")).values_list("service_id", "n")


_FREE_COUNTS: Compiled[Any] = Compiled(_free_counts)


def _providers_days(service: Service, tz: ZoneInfo | None) -> bool:
    """Whether days are the provider's (then the stored `slot_date` answers, no date maths)."""
    return tz is None or tz.key == service.provider.timezone


def offered_days(
    *,
    service: Service,
    now: datetime | None = None,
    ignoring: Appointment | None = None,
    tz: ZoneInfo | None = None,
) -> dict[date, int]:
    """Bookable slots per day: the provider's days, or the days of `tz` (a visitor's zone).
    Either way "bookable" (the per-day limit included) is decided in the provider's days."""
    now = now or timezone.now()
    if _providers_days(service, tz):
        terms = _service_terms(service, now, ignoring)
        return dict(_DAYS.list(**terms)) if terms is not None else {}
    rows = (
        offers(service, now=now, ignoring=ignoring)
        .order_by()
        .annotate(day=TruncDate("start", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return dict(rows)


def offered_on(
    *,
    service: Service,
    day: date,
    now: datetime | None = None,
    ignoring: Appointment | None = None,
    tz: ZoneInfo | None = None,
) -> list[Slot]:
    """The bookable slots of one day (the provider's, or `tz`'s)."""
    now = now or timezone.now()
    if _providers_days(service, tz):
        terms = _service_terms(service, now, ignoring)
        return _ON.list(day=day, **terms) if terms is not None else []
    start = datetime.combine(day, time(0), tzinfo=tz)
    offered = offers(service, now=now, ignoring=ignoring).filter(
        start__gte=start, start__lt=datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    )
    return list(offered.order_by("start").only("id", "start", "end"))


def window_days(*, service: Service, tz: ZoneInfo | None, now: datetime | None = None) -> tuple[date, date]:
    """The first and last day someone can book on, in `tz` (default: the provider's days)."""
    now = now or timezone.now()
    provider_tz = ZoneInfo(service.provider.timezone)
    provider_today = now.astimezone(provider_tz).date()
    window_end = datetime.combine(
        provider_today + timedelta(days=service.booking_window_days), time(0), tzinfo=provider_tz
    )
    shown = tz or provider_tz
    return now.astimezone(shown).date(), (window_end - timedelta(seconds=1)).astimezone(shown).date()


def alternatives(*, service: Service, excluding: Any = None, limit: int = 8) -> list[Slot]:
    qs = offers(service)
    if excluding is not None:
        qs = qs.exclude(pk=excluding)
    return list(qs.order_by("start")[:limit])


def services_free_slots(services: list[Service], *, now: datetime | None = None) -> list[Service]:
    """Each service with `free_slots`: how many of its times can be booked now. One query
    however many (the one definition, as `offers_of` builds it for several services, counted per
    service and compiled once); meant for a page of a provider's services, not a thousand at once."""
    counts: dict[Any, int] = {}
    terms = _terms(services, now or timezone.now())
    if terms is not None:
        counts = dict(_FREE_COUNTS.list(**_as_lists(terms)))
    for service in services:
        service.free_slots = counts.get(service.pk, 0)  # type: ignore[attr-defined]
    return services


def time_still_free(appointment: Appointment, *, now: datetime) -> bool:
    """Whether a lapsed hold's own time is bookable again now (a payment that completed after
    the lapse): the one definition, `offers()`, still offers that time. Ask it with the provider
    row locked."""
    return (
        offers(appointment.service, now=now)
        .filter(start=appointment.start, end=appointment.end, provider_id=appointment.provider_id)
        .exists()
    )


def check_bookable(slot: Slot, service: Service, *, now: datetime, ignoring: Appointment | None = None) -> None:
    """Raise unless `offers()` contains this slot. Call it with the provider row locked
    (bookings.services.locks) so that nothing changes the answer before the caller writes.
    The definition decides; the checks after it only choose the message."""
    if is_offered(slot, service, now=now, ignoring=ignoring):
        return
    if not service.is_active or service.provider.onboarding_step != OnboardingStep.DONE:
        raise SlotUnavailable("This service is not offered any more.")
    if slot.start <= now:
        raise BookingNotAllowed("This time is in the past. Please pick another one.")
    if slot.start < now + timedelta(minutes=service.min_notice_minutes):
        raise BookingNotAllowed(
            f"{service.provider.business_name} needs at least {service.min_notice_minutes} minutes' notice. "
            "Please pick a later time."
        )
    if slot.slot_date > service_horizon(service, now)[1]:
        raise BookingNotAllowed(
            f"This time is more than {service.booking_window_days} days ahead. Please pick an earlier one."
        )
    if HoursException.objects.filter(provider_id=slot.provider_id, date=slot.slot_date, start_time__isnull=True):
        raise SlotUnavailable("The provider is closed on that day now.")
    if not overlapping_claims(provider_id=slot.provider_id, start=slot.start, end=slot.end):
        raise SlotUnavailable(f"{service.name} is fully booked that day.")
    raise SlotUnavailable("This time was just taken.")


__all__ = [
    "BookingNotAllowed",
    "SlotUnavailable",
    "alternatives",
    "check_bookable",
    "offered_days",
    "offered_on",
    "offers",
    "offers_of",
    "services_free_slots",
]
