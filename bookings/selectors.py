"""Reads of the booking domain, each scoped to who may see the rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Prefetch, Q, QuerySet, Sum, Value
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from appointly.compiled import AnyOf, Compiled, as_uuid
from bookings.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    CustomerAttendance,
    RescheduleRequest,
    RescheduleStatus,
)
from payments.models import CustomerTotal, Payment, PaymentStatus, Refund, RefundStatus
from providers.models import LONGEST_APPOINTMENT, Slot

_CUSTOMERS_APPOINTMENT: Compiled[Appointment] = Compiled(
    lambda pk, customer_id: (
        Appointment.objects.select_related("service", "provider", "service__category")
        .prefetch_related(
            Prefetch(
                "reschedule_requests",
                queryset=RescheduleRequest.objects.filter(status=RescheduleStatus.PENDING),
                to_attr="pending_requests",
            )
        )
        .filter(pk=pk, customer_id=customer_id)
    )
)


def appointment_get_for_customer(*, customer: User, appointment_id: Any) -> Appointment:
    """The customer's own appointment, or 404 (never reveals that someone else's exists)."""
    found = _CUSTOMERS_APPOINTMENT.first(pk=as_uuid(appointment_id), customer_id=customer.pk)
    if found is None:
        raise Http404("No appointment matches the given query.")
    return found


# The confirm and pay pages' reads, compiled once (ADR 0029).
_HELD_FOR: Compiled[Appointment] = Compiled(
    lambda customer_id, service_id, start, now: Appointment.objects.filter(
        customer_id=customer_id,
        service_id=service_id,
        start=start,
        status=AppointmentStatus.HELD,
        hold_expires_at__gt=now,
    ).order_by("pk")[:1]
)
_LAST_DETAILS: Compiled[Any] = Compiled(
    lambda customer_id: (
        Appointment.objects.filter(customer_id=customer_id)
        .exclude(customer_name="", customer_phone="")
        .order_by("-created_at")
        .values("customer_name", "customer_phone")[:1]
    )
)
_SLOT: Compiled[Slot] = Compiled(
    lambda pk: Slot.objects.select_related("service", "service__provider", "service__category").filter(pk=pk)
)


def appointment_held_for(*, customer: User, slot: Slot) -> Appointment | None:
    """The customer's unexpired hold on this slot's time: a reload or return resumes it."""
    return _HELD_FOR.first(customer_id=customer.pk, service_id=slot.service_id, start=slot.start, now=timezone.now())


def customer_details_last(*, customer: User) -> dict[str, str]:
    """What the confirm page is prefilled with: the name and phone of the customer's latest
    booking that had them, else the name on the account."""
    last = _LAST_DETAILS.first(customer_id=customer.pk)
    if last is not None:
        return {"name": last["customer_name"], "phone": last["customer_phone"]}
    return {"name": customer.get_full_name(), "phone": ""}


def appointment_events(*, appointment: Appointment) -> list[AppointmentEvent]:
    return list(appointment.events.select_related("actor").order_by("at", "pk"))


def slot_find(*, slot_id: Any) -> Slot | None:
    """An offer by id with its service and provider, or None once it is gone (a schedule
    change rebuilt it); whether it can be booked is bookings.availability's question."""
    return _SLOT.first(pk=as_uuid(slot_id))


@dataclass(frozen=True)
class AccountSummary:
    next_appointment: Appointment | None
    upcoming: int
    attended: int
    spent_minor: dict[str, int]
    refunds_pending_minor: dict[str, int]
    refunds_received_minor: dict[str, int]


def account_summary(
    *, customer: User, next_appointment: Appointment | None, now: datetime | None = None
) -> AccountSummary:
    """The account page's cards in one statement whatever the history length: how many are
    upcoming (an index range from now), how many were attended, the money paid and the refunds
    by currency. On PostgreSQL the last three are rows the database keeps (docs/adr/0027);
    elsewhere they are summed over the whole ledger, which is their definition
    (`account_summary_counted`). The next appointment is the caller's (read with the page's
    lists: `account_appointments`)."""
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        return _summary(_counted(customer, now), next_appointment)
    return _summary(_KEPT_SUMMARY.list(customer_id=customer.pk, now=now), next_appointment)


def _kept_summary(customer_id: Any, now: datetime) -> QuerySet[Any]:
    attended = (
        CustomerAttendance.objects.filter(customer_id=customer_id)
        .annotate(kind=Value("attended"), currency=Value(""), a=F("attended"), b=Value(0), c=Value(0))
        .values_list("kind", "currency", "a", "b", "c")
    )
    money = (
        CustomerTotal.objects.filter(customer_id=customer_id)
        .annotate(kind=Value("money"), a=F("paid_minor"), b=F("refunded_minor"), c=F("refund_pending_minor"))
        .values_list("kind", "currency", "a", "b", "c")
    )
    return _upcoming_count(customer_id, now).union(attended, money, all=True).order_by()


_KEPT_SUMMARY: Compiled[Any] = Compiled(_kept_summary)


def account_summary_counted(*, customer: User, now: datetime | None = None) -> AccountSummary:
    """The cards as their definition says, summed over every appointment, payment and refund
    of the customer: what the kept totals must always equal."""
    now = now or timezone.now()
    return _summary(_counted(customer, now), None)


def _upcoming_count(customer: Any, now: datetime) -> QuerySet[Any]:
    return (
        Appointment.objects.filter(customer=customer, status=AppointmentStatus.CONFIRMED, start__gt=now)
        .order_by()
        .values("customer_id")
        .annotate(kind=Value("upcoming"), currency=Value(""), a=Count("id"), b=Value(0), c=Value(0))
        .values_list("kind", "currency", "a", "b", "c")
    )


def _counted(customer: User, now: datetime) -> QuerySet[Any]:
    attended = (
        Appointment.objects.filter(customer=customer, status=AppointmentStatus.COMPLETED)
        .order_by()
        .values("customer_id")
        .annotate(kind=Value("attended"), currency=Value(""), a=Count("id"), b=Value(0), c=Value(0))
        .values_list("kind", "currency", "a", "b", "c")
    )
    paid = (
        Payment.objects.filter(customer=customer, status=PaymentStatus.SUCCEEDED)
        .order_by()
        .values("currency")
        .annotate(kind=Value("money"), a=Sum("amount_minor"), b=Value(0), c=Value(0))
        .values_list("kind", "currency", "a", "b", "c")
    )
    refunds = (
        Refund.objects.filter(payment__customer=customer, status__in=[RefundStatus.SUCCEEDED, RefundStatus.PENDING])
        .order_by()
        .values("currency")
        .annotate(
            kind=Value("money"),
            a=Value(0),
            b=Sum("amount_minor", filter=Q(status=RefundStatus.SUCCEEDED), default=0),
            c=Sum("amount_minor", filter=Q(status=RefundStatus.PENDING), default=0),
        )
        .values_list("kind", "currency", "a", "b", "c")
    )
    return _upcoming_count(customer, now).union(attended, paid, refunds, all=True).order_by()


def _summary(rows: Any, next_appointment: Appointment | None) -> AccountSummary:
    upcoming_n = attended = 0
    paid: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    pending: dict[str, int] = defaultdict(int)
    for kind, currency, a, b, c in rows:
        if kind == "upcoming":
            upcoming_n = a
        elif kind == "attended":
            attended = a
        else:
            paid[currency] += a or 0
            received[currency] += b or 0
            pending[currency] += c or 0
    return AccountSummary(
        next_appointment=next_appointment,
        upcoming=upcoming_n,
        attended=attended,
        spent_minor={cur: amount - received.get(cur, 0) for cur, amount in paid.items() if amount},
        refunds_pending_minor={cur: amount for cur, amount in pending.items() if amount},
        refunds_received_minor={cur: amount for cur, amount in received.items() if amount},
    )


_REFUNDS_OF: Compiled[Refund] = Compiled(
    lambda refs: Refund.objects.filter(AnyOf("payment__reference", refs, "text")).select_related("payment")
)
_PENDING_OF: Compiled[RescheduleRequest] = Compiled(
    lambda ids: RescheduleRequest.objects.filter(AnyOf("appointment_id", ids, "uuid"), status=RescheduleStatus.PENDING)
)


def _shows_receipt(appointment: Appointment, refunds: list[Refund]) -> bool:
    """Whether a card links the receipt: the price was paid through the gateway (not at the
    venue, not an unpaid or lapsed hold), and a cancelled one only when money went back."""
    return bool(
        appointment.price_minor
        and not appointment.pay_at_venue
        and appointment.status not in (AppointmentStatus.HELD, AppointmentStatus.EXPIRED)
        and (appointment.status != AppointmentStatus.CANCELLED or refunds)
    )


def _with_refunds(appointments: list[Appointment]) -> list[Appointment]:
    """Attach `refunds` (the ledger rows) and `shows_receipt` to each appointment in one query."""
    by_ref: dict[str, list[Refund]] = defaultdict(list)
    for refund in _REFUNDS_OF.list(refs=[str(a.pk) for a in appointments]):
        by_ref[refund.payment.reference].append(refund)
    for a in appointments:
        a.refunds = by_ref.get(str(a.pk), [])  # type: ignore[attr-defined]
        a.shows_receipt = _shows_receipt(a, a.refunds)  # type: ignore[attr-defined]
    return appointments


def _with_pending_requests(appointments: list[Appointment]) -> list[Appointment]:
    """Attach `pending_requests` (as the prefetch of `_customer_appointments` does) in one query."""
    by_appointment: dict[Any, list[RescheduleRequest]] = defaultdict(list)
    for request in _PENDING_OF.list(ids=[a.pk for a in appointments]):
        by_appointment[request.appointment_id].append(request)
    for a in appointments:
        a.pending_requests = by_appointment.get(a.pk, [])  # type: ignore[attr-defined]
    return appointments


def _customer_rows(customer_id: Any) -> QuerySet[Appointment]:
    """A customer's appointments (not the lapsed holds) with what their cards show."""
    return (
        Appointment.objects.filter(customer_id=customer_id)
        .exclude(status=AppointmentStatus.EXPIRED)
        .select_related("service", "service__provider", "provider")
    )


# What the account page's cards and its "Next appointment" show, the rest of the four rows'
# ~60 columns left unread (~0.8 ms a page of 20). A field read that is not here costs a query
# per card: test_account_costs_nine_queries_whatever_the_history counts them.
_CARD_FIELDS = (
    *("customer_id", "provider_id", "service_id", "start", "end", "status", "price_minor", "currency", "pay_at_venue"),
    *("service__name", "service__slug", "service__location", "service__is_online", "service__provider__address"),
    *("provider__timezone", "provider__business_name"),
)


def _customer_appointments(customer: User) -> QuerySet[Appointment]:
    return _customer_rows(customer.pk).prefetch_related(
        Prefetch(
            "reschedule_requests",
            queryset=RescheduleRequest.objects.filter(status=RescheduleStatus.PENDING),
            to_attr="pending_requests",
        )
    )


def _upcoming(now: datetime) -> Q:
    return Q(end__gt=now, status__in=ACTIVE_STATUSES)


def appointments_upcoming(*, customer: User, now: datetime | None = None, limit: int = 50) -> list[Appointment]:
    now = now or timezone.now()
    qs = _customer_appointments(customer).filter(_upcoming(now)).order_by("start")
    return _with_refunds(list(qs[:limit]))


def appointments_past(*, customer: User, now: datetime | None = None, limit: int = 50) -> list[Appointment]:
    now = now or timezone.now()
    qs = _customer_appointments(customer).exclude(_upcoming(now)).order_by("-start")
    return _with_refunds(list(qs[:limit]))


PER_PAGE = 20


@dataclass(frozen=True)
class AccountAppointments:
    """One page of one of the account page's two lists (docs/adr/0031)."""

    past: bool  # which list: upcoming (soonest first) or past and cancelled (newest first)
    rows: list[Appointment]  # one page of it
    page: int
    has_more: bool  # a later page (upcoming) or an older one (past) exists
    next_appointment: Appointment | None  # the soonest booked one, whichever list and page is shown


def _account_rows(
    customer_id: Any, now: datetime, offset: int, earliest: datetime | None = None, *, past: bool
) -> QuerySet[Appointment]:
    """One page of the upcoming or (`past`) of the past appointments, from `offset` on, and the
    next booked one, in one query. `earliest`, which the upcoming list needs, is `now` less the
    longest appointment (see below)."""
    mine = Appointment.objects.filter(customer_id=customer_id).exclude(status=AppointmentStatus.EXPIRED)
    if past:
        listed_ids = mine.exclude(_upcoming(now)).order_by("-start", "-pk").values("pk")
    else:
        # `start > now - the longest appointment` follows from `end > now` and bounds the
        # (customer, start) index scan from below: without it a prepared statement's generic
        # plan walked the customer's whole history up to now (22 ms at 100,000 appointments,
        # against 0.7).
        listed_ids = mine.filter(_upcoming(now), start__gt=earliest).order_by("start", "pk").values("pk")
    listed_ids = listed_ids[offset : offset + PER_PAGE + 1]
    next_id = mine.filter(status=AppointmentStatus.CONFIRMED, start__gt=now).order_by("start", "pk").values("pk")[:1]
    if connection.features.supports_slicing_ordering_in_compound:
        # PostgreSQL: the short id lists joined, then each row fetched by its key. With the OR
        # of them, it tested every appointment of the customer against each list (~45 ms at
        # 100,000 appointments against ~2).
        chosen = Q(pk__in=listed_ids.union(next_id, all=True))
    else:  # SQLite cannot limit inside a UNION
        chosen = Q(pk__in=listed_ids) | Q(pk__in=next_id)
    # The next appointment is read with the page but listed only where its page is.
    listed = ExpressionWrapper(Q(pk__in=listed_ids), BooleanField())
    return _customer_rows(customer_id).filter(chosen).annotate(listed=listed).only(*_CARD_FIELDS)


# Each list's read compiled once (ADR 0029), its offset bound as a parameter: every page of a
# list is the same read.
_ACCOUNT_LISTS: dict[bool, Compiled[Appointment]] = {
    past: Compiled(partial(_account_rows, past=past)) for past in (False, True)
}


def account_appointments(
    *, customer: User, now: datetime | None = None, past: bool = False, page: int = 1
) -> AccountAppointments:
    """One page (PER_PAGE) of the customer's upcoming appointments (soonest first) or of their
    past and cancelled ones (`past`, newest first), and their next booked appointment (the
    account page's first card, on every page), read in one query, with their pending requests
    and refunds (one query each): three whatever the history length or the page."""
    now = now or timezone.now()
    page = max(page, 1)
    values: dict[str, Any] = {"customer_id": customer.pk, "now": now}
    if not past:
        values["earliest"] = now - LONGEST_APPOINTMENT
    values["offset"] = (page - 1) * PER_PAGE
    rows = _with_pending_requests(_with_refunds(_ACCOUNT_LISTS[past].list(**values)))
    listed = [a for a in rows if a.listed]  # type: ignore[attr-defined]
    if past:
        listed.sort(key=lambda a: (a.start, a.pk), reverse=True)
    else:
        listed.sort(key=lambda a: (a.start, a.pk))
    booked = [a for a in rows if a.status == AppointmentStatus.CONFIRMED and a.start > now]
    return AccountAppointments(
        past=past,
        rows=listed[:PER_PAGE],
        page=page,
        has_more=len(listed) > PER_PAGE,
        next_appointment=min(booked, key=lambda a: (a.start, a.pk), default=None),
    )


def payment_for(*, appointment: Appointment) -> Payment | None:
    return Payment.objects.filter(reference=str(appointment.pk), status=PaymentStatus.SUCCEEDED).first()


_LATEST_PAYMENT: Compiled[Payment] = Compiled(
    lambda reference: Payment.objects.filter(reference=reference).order_by("-created_at", "-pk")[:1]
)


def payment_latest_for(*, appointment: Appointment) -> Payment | None:
    """The newest payment attempt, whatever its state (the pay and return pages)."""
    return _LATEST_PAYMENT.first(reference=str(appointment.pk))


def refunds_for(*, appointment: Appointment) -> list[Refund]:
    return list(Refund.objects.filter(payment__reference=str(appointment.pk)).order_by("created_at"))


def provider_appointment_get(*, provider: Any, appointment_id: Any) -> Appointment:
    return get_object_or_404(
        Appointment.objects.select_related("service", "customer", "provider"), pk=appointment_id, provider=provider
    )


def provider_upcoming(*, provider: Any, now: datetime | None = None, limit: int = 50) -> list[Appointment]:
    now = now or timezone.now()
    return list(
        Appointment.objects.filter(provider=provider, status=AppointmentStatus.CONFIRMED, start__gt=now)
        .select_related("service", "customer")
        .order_by("start")[:limit]
    )


@dataclass(frozen=True)
class Picked:
    """A bulk-cancel selection as the provider is asked to confirm it."""

    cancellable: list[Appointment]
    not_cancellable: list[Appointment]  # the provider's own, but past, cancelled or not confirmed
    unknown: int  # malformed ids, ids that do not exist and other providers' ids, alike

    @property
    def refunds_minor(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for a in self.cancellable:
            totals[a.currency] += a.paid_online_minor  # what was taken online goes back, all of it
        return dict(totals)


def ids_parsed(ids: list[str]) -> dict[str, Any]:
    """Each distinct id as given (order kept) with its UUID, or None when it is not one."""
    import uuid

    keys: dict[str, uuid.UUID | None] = {}
    for raw in dict.fromkeys(str(i) for i in ids):
        try:
            keys[raw] = uuid.UUID(raw)
        except ValueError:
            keys[raw] = None
    return keys


def provider_appointments_by_ids(
    *, provider: Any, ids: list[str], rows: QuerySet[Appointment] | None = None
) -> dict[str, Appointment | None]:
    """Each distinct id as given (order kept) with the provider's appointment, or None for a
    malformed id, an unknown one and another provider's alike (nothing leaks). One query, of
    `rows` when given (a service's locking read)."""
    keys = ids_parsed(ids)
    rows = Appointment.objects.select_related("service", "customer") if rows is None else rows
    found = {a.pk: a for a in rows.filter(provider=provider, pk__in=[k for k in keys.values() if k])}
    return {raw: found.get(key) if key else None for raw, key in keys.items()}


def provider_appointments_picked(*, provider: Any, ids: list[str], now: datetime | None = None) -> Picked:
    """The provider's appointments among `ids`, split into what a bulk cancel would cancel and
    what it would not; one query however many ids."""
    now = now or timezone.now()
    by_id = provider_appointments_by_ids(provider=provider, ids=ids)
    own = sorted({a.pk: a for a in by_id.values() if a is not None}.values(), key=lambda a: a.start)
    return Picked(
        cancellable=[a for a in own if a.cancellable_by_provider(now)],
        not_cancellable=[a for a in own if not a.cancellable_by_provider(now)],
        unknown=sum(1 for a in by_id.values() if a is None),
    )


_PROVIDER_DAY: Compiled[Appointment] = Compiled(
    lambda provider_id, earliest, start, end: (
        Appointment.objects.filter(provider_id=provider_id, start__gte=earliest, start__lt=end, end__gt=start)
        .exclude(status=AppointmentStatus.EXPIRED)
        .select_related("service", "customer")
        .order_by("start")
    )
)


def provider_day(*, provider: Any, start: datetime, end: datetime) -> list[Appointment]:
    """Appointments (any status but expired holds) overlapping [start, end).

    The lower bound on `start` is what lets the `(provider, start)` index bound the read from
    both sides: no appointment is longer than a service may be, so nothing that starts
    earlier than the longest service can reach into the range. Without it the scan ran over all of the
    provider's history before `end`. Compiled once (ADR 0029): the dashboard and its poll.
    Each row's `provider` is the one asked about (no query per row for it)."""
    rows = _PROVIDER_DAY.list(provider_id=provider.pk, earliest=start - LONGEST_APPOINTMENT, start=start, end=end)
    for a in rows:
        a.provider = provider
    return rows


_LAST_EVENT: Compiled[Any] = Compiled(
    lambda provider_id: (
        AppointmentEvent.objects.filter(provider_id=provider_id).order_by("-pk").values_list("pk", flat=True)[:1]
    )
)


def provider_last_event_id(*, provider: Any) -> int:
    """The id of the provider's latest appointment event (0 for none): the dashboard's "changed
    since" cursor. One probe of `event_provider_id_idx`."""
    last = _LAST_EVENT.first(provider_id=provider.pk)
    return last or 0


def provider_events(*, provider: Any) -> QuerySet[AppointmentEvent]:
    return AppointmentEvent.objects.filter(provider=provider)


def provider_events_after(*, provider: Any, after: int, limit: int = 5) -> list[AppointmentEvent]:
    """The provider's latest events after the cursor, newest first (what the live view lists)."""
    return list(
        AppointmentEvent.objects.filter(provider=provider, pk__gt=after)
        .select_related("appointment__service", "appointment__customer", "actor")
        .order_by("-pk")[:limit]
    )


_PENDING_RESCHEDULES: Compiled[RescheduleRequest] = Compiled(
    lambda provider_id: (
        RescheduleRequest.objects.filter(appointment__provider_id=provider_id, status=RescheduleStatus.PENDING)
        .select_related("appointment", "appointment__service", "appointment__customer")
        .order_by("expires_at")
    )
)


def provider_pending_reschedules(*, provider: Any) -> list[RescheduleRequest]:
    return _PENDING_RESCHEDULES.list(provider_id=provider.pk)


def provider_reschedule_get(*, provider: Any, request_id: Any) -> RescheduleRequest:
    return get_object_or_404(
        RescheduleRequest.objects.select_related("appointment"), pk=request_id, appointment__provider=provider
    )


def provider_counts(
    *, provider: Any, week: tuple[datetime, datetime], month: tuple[datetime, datetime]
) -> dict[str, int]:
    """The dashboard's counts in one aggregate query (definitions in docs/adr/0009)."""
    held_or_done = [AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW]
    in_month = Q(start__gte=month[0], start__lt=month[1])
    cancelled_in_month = Q(status=AppointmentStatus.CANCELLED, cancelled_at__gte=month[0], cancelled_at__lt=month[1])
    # Only the rows that can count: those starting in the week or the month, and those
    # cancelled in the month. Each arm is an index range (provider+start, provider+cancelled_at),
    # so the cost follows the month's size, not the provider's whole history.
    starts = Q(start__gte=min(week[0], month[0]), start__lt=max(week[1], month[1]))
    return Appointment.objects.filter(Q(provider=provider) & (starts | cancelled_in_month)).aggregate(
        week=Count("id", filter=Q(status__in=held_or_done, start__gte=week[0], start__lt=week[1])),
        month=Count("id", filter=Q(status__in=held_or_done) & in_month),
        no_shows=Count("id", filter=Q(status=AppointmentStatus.NO_SHOW) & in_month),
        cancelled_by_customer=Count("id", filter=cancelled_in_month & Q(cancelled_by="customer")),
        cancelled_by_provider=Count("id", filter=cancelled_in_month & Q(cancelled_by="provider")),
    )


def provider_weekly_counts(*, provider: Any, start: datetime, end: datetime, tz: Any) -> dict[date, int]:
    """Appointments (confirmed, attended, no-show) per provider-local week, counted in the database."""
    from django.db.models.functions import TruncWeek

    rows = (
        Appointment.objects.filter(
            provider=provider,
            status__in=[AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW],
            start__gte=start,
            start__lt=end,
        )
        .annotate(week=TruncWeek("start", tzinfo=tz))
        .values("week")
        .annotate(n=Count("id"))
        .values_list("week", "n")
    )
    return {week.date(): n for week, n in rows}


OUTSIDE_HOURS_LIMIT = 200

# Every dashboard page load reads these times (ADR 0029).
_UPCOMING_TIMES: Compiled[Any] = Compiled(
    lambda provider_id, now: (
        Appointment.objects.filter(provider_id=provider_id, status__in=ACTIVE_STATUSES, start__gt=now)
        .order_by("start")
        .values_list("pk", "start", "end")[:OUTSIDE_HOURS_LIMIT]
    )
)


def provider_outside_hours(*, provider: Any, now: datetime | None = None, hours: Any = None) -> list[Appointment]:
    """Upcoming active appointments that no longer fit the provider's hours (after an hours
    change): listed for the provider to handle, never cancelled silently.

    The check reads only the times of the next OUTSIDE_HOURS_LIMIT appointments; the few that
    fall outside are then loaded whole (no query at all when there are none). Pass `hours` when
    the caller has them loaded already."""
    from zoneinfo import ZoneInfo

    from providers.services import ProviderHours
    from providers.slots import open_runs

    now = now or timezone.now()
    hours = hours or ProviderHours.load(provider)
    zone = ZoneInfo(provider.timezone)
    upcoming = _UPCOMING_TIMES.list(provider_id=provider.pk, now=now)
    runs_by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    outside = []
    for pk, start, end in upcoming:
        day = start.astimezone(zone).date()
        if day not in runs_by_day:  # a day's opening runs, worked out once for all its appointments
            runs_by_day[day] = open_runs(day, hours.intervals_for(day), provider.timezone)
        if not any(lo <= start and end <= hi for lo, hi in runs_by_day[day]):
            outside.append(pk)
    if not outside:
        return []
    return list(Appointment.objects.filter(pk__in=outside).select_related("service", "customer").order_by("start"))
