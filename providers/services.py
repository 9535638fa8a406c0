"""Writes of the providers domain: profile, hours, services and their stored slots."""

from __future__ import annotations

import contextvars
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Role, User
from appointly.compiled import AnyOf, Compiled
from appointly.core import DomainError
from appointly.telemetry import traced
from providers import rules
from providers.models import (
    Category,
    HoursException,
    OnboardingStep,
    Provider,
    Service,
    Weekday,
    WeeklyInterval,
    qr_token_fields,
)
from providers.slot_store import NewSlot, slots_insert, slots_replace_future
from providers.slots import Interval, SlotShape, day_slots

# Fields of Service whose change makes the stored future slots wrong.
SCHEDULE_FIELDS = frozenset(
    {
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "max_appointments_per_day",
        "booking_window_days",
        "is_active",
    }
)


# --- Hours as the slot generator sees them ----------------------------------------------------


# Hours of one or many providers, each read compiled once (ADR 0029: the list of ids is one
# array parameter): every dashboard page, the booking pages and each regeneration read them.
_WEEKLY: Compiled[Any] = Compiled(
    lambda provider_ids: (
        WeeklyInterval.objects.filter(AnyOf("provider_id", provider_ids, "uuid"))
        .order_by("weekday", "start_time")
        .values_list("provider_id", "weekday", "start_time", "end_time")
    )
)
_EXCEPTIONS: Compiled[Any] = Compiled(
    lambda provider_ids: (
        HoursException.objects.filter(AnyOf("provider_id", provider_ids, "uuid"))
        .order_by("date", "start_time")
        .values_list("provider_id", "date", "start_time", "end_time")
    )
)


class ProviderHours:
    """A provider's weekly intervals and date exceptions, loaded once for many days."""

    def __init__(
        self,
        weekly: Iterable[tuple[int, time, time]],
        exceptions: Iterable[tuple[date, time | None, time | None]],
    ) -> None:
        self.weekly: dict[int, list[Interval]] = defaultdict(list)
        for weekday, start, end in weekly:
            self.weekly[weekday].append((start, end))
        self.exceptions: dict[date, list[Interval]] = {}
        for day, start_time, end_time in exceptions:
            intervals = self.exceptions.setdefault(day, [])
            if start_time is not None and end_time is not None:
                intervals.append((start_time, end_time))

    @classmethod
    def load(cls, provider: Provider) -> ProviderHours:
        """One provider's hours (`load_many` of one)."""
        return cls.load_many([provider.pk])[provider.pk]

    @classmethod
    def load_many(cls, provider_ids: Iterable[Any]) -> dict[Any, ProviderHours]:
        """Hours of many providers in two queries (plain rows: no model instances)."""
        ids = list(provider_ids)
        weekly: dict[Any, list[tuple[int, time, time]]] = defaultdict(list)
        exceptions: dict[Any, list[tuple[date, time | None, time | None]]] = defaultdict(list)
        for provider_id, weekday, start, end in _WEEKLY.list(provider_ids=ids):
            weekly[provider_id].append((weekday, start, end))
        for provider_id, day, start_time, end_time in _EXCEPTIONS.list(provider_ids=ids):
            exceptions[provider_id].append((day, start_time, end_time))
        return {pid: cls(weekly[pid], exceptions[pid]) for pid in ids}

    def intervals_for(self, day: date) -> list[Interval]:
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly.get(day.weekday(), [])

    def week(self) -> list[dict[str, Any]]:
        """Monday to Sunday as pages list them (`providers/_week_hours.html`)."""
        return [{"label": day.label, "intervals": self.weekly.get(day.value, [])} for day in Weekday]


def service_shape(service: Service) -> SlotShape:
    return SlotShape(
        duration=timedelta(minutes=service.duration_minutes),
        buffer_before=timedelta(minutes=service.buffer_before_minutes),
        buffer_after=timedelta(minutes=service.buffer_after_minutes),
        max_per_day=service.max_appointments_per_day,
    )


def provider_today(provider: Provider, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(provider.timezone)).date()


def service_horizon(service: Service, now: datetime | None = None) -> tuple[date, date]:
    """First and last provider-local date for which this service has slots."""
    today = provider_today(service.provider, now)
    return today, today + timedelta(days=service.booking_window_days - 1)


DayKey = tuple[date, tuple[Interval, ...], str, SlotShape, datetime | None]


def _build_slots(
    *,
    service: Service,
    hours: ProviderHours,
    days: Iterable[date],
    now: datetime,
    shared: dict[DayKey, list[tuple[datetime, datetime]]] | None = None,
) -> list[NewSlot]:
    """The service's slots on these days. `shared`: days already computed for other services
    of the same write (same zone, hours and shape give the same slots), reused as they are."""
    shape = service_shape(service)
    tz_key = service.provider.timezone
    service_id, provider_id = service.pk, service.provider_id
    # `now` matters only near today: every instant of a later local day is after it (a day is
    # never more than a few hours out of order, on a fall-back at midnight).
    near = provider_today(service.provider, now) + timedelta(days=1)
    shared = {} if shared is None else shared
    rows: list[NewSlot] = []
    append = rows.append
    for day in days:
        intervals = hours.intervals_for(day)
        if not intervals:
            continue
        key = (day, tuple(intervals), tz_key, shape, now if day <= near else None)
        spans = shared.get(key)
        if spans is None:
            spans = shared[key] = day_slots(day, intervals, tz_key, shape, after=now)
        for start, end in spans:
            append(NewSlot(service_id, provider_id, start, end, day))
    return rows


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --- Slots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regeneration:
    deleted: int
    created: int


@transaction.atomic
@traced(
    "slots.regenerate",
    lambda kwargs, result: {
        "service.id": str(kwargs["service"].pk),
        "slots.deleted": result.deleted,
        "slots.created": result.created,
    },
)
def slots_regenerate(*, service: Service, now: datetime | None = None) -> Regeneration:
    """Make one service's future offers match its settings and its provider's hours."""
    return _regenerate([service.pk], now or timezone.now())


@transaction.atomic
@traced(
    "slots.regenerate_provider",
    lambda kwargs, result: {
        "provider.id": str(kwargs["provider"].pk),
        "slots.deleted": result.deleted,
        "slots.created": result.created,
    },
)
def slots_regenerate_for_provider(*, provider: Provider, now: datetime | None = None) -> Regeneration:
    """The same for every active service of the provider (after a change of hours), in one go."""
    ids = list(provider.services.filter(is_active=True).values_list("pk", flat=True))
    return _regenerate(ids, now or timezone.now())


_LOCKED_SERVICES: Compiled[Service] = Compiled(
    lambda ids: (
        Service.objects.select_for_update(of=("self",))
        .filter(AnyOf("id", ids, "uuid"))
        .select_related("provider")
        .order_by("pk")
    )
)


def _regenerate(service_ids: list[Any], now: datetime) -> Regeneration:
    """Offers whose time is still right are kept (their ids, and so the links customers hold,
    stay valid); the others are deleted and the missing ones made, for all the services at
    once (one COPY, one DELETE, one INSERT). Slots record nothing about bookings, so this
    works whatever history exists; whether an offer can be booked (claims, per-day limit,
    notice) is decided when it is read (bookings.availability). Past slots are never touched.
    Takes the services' row locks in id order (as the top-up does), so that two regenerations
    of one service run one at a time. An inactive service loses its future offers."""
    if not service_ids:
        return Regeneration(deleted=0, created=0)
    services = _LOCKED_SERVICES.list(ids=list(service_ids))
    hours = ProviderHours.load_many({s.provider_id for s in services if s.is_active})
    rows: list[NewSlot] = []
    until: dict[date | None, list[Any]] = defaultdict(list)
    shared: dict[DayKey, list[tuple[datetime, datetime]]] = {}
    for service in services:
        if not service.is_active:
            until[None].append(service.pk)
            continue
        first, last = service_horizon(service, now)
        hours_of = hours[service.provider_id]
        rows.extend(_build_slots(service=service, hours=hours_of, days=_days(first, last), now=now, shared=shared))
        until[last].append(service.pk)
    deleted, created = slots_replace_future([s.pk for s in services], after=now, rows=rows)
    _record_generated_until(until)
    return Regeneration(deleted=deleted, created=created)


def _record_generated_until(until: dict[date | None, list[Any]]) -> None:
    """`slots_generated_until` of the services just written: one UPDATE per last day."""
    for day, pks in until.items():
        Service.objects.filter(pk__in=pks).update(slots_generated_until=day)


TOPUP_CHUNK = 100


def slots_topup(
    *, services: Iterable[Service] | None = None, now: datetime | None = None, workers: int | None = None
) -> int:
    """Add the missing days so that every active service has slots for its whole window.

    Only days after `slots_generated_until` are computed, so a second run creates nothing.
    Services go in chunks, one transaction each, holding their row locks (SKIP LOCKED: a
    service being regenerated right now is skipped; its regeneration fills the window).

    `workers` (default settings.SLOTS_TOPUP_WORKERS): on PostgreSQL, that many threads with a
    connection each take the chunks, so that one computes slots while another's INSERT runs
    in the database (docs/adr/0025). Inside a caller's transaction, or on SQLite, one: the
    chunks then see, and belong to, the caller's transaction.
    """
    now = now or timezone.now()
    if services is None:
        ids = list(
            Service.objects.filter(is_active=True, provider__onboarding_step=OnboardingStep.DONE)
            .order_by("provider_id", "pk")
            .values_list("pk", flat=True)
        )
    else:
        ids = [s.pk for s in services]
    chunks = [ids[i : i + TOPUP_CHUNK] for i in range(0, len(ids), TOPUP_CHUNK)]
    workers = settings.SLOTS_TOPUP_WORKERS if workers is None else workers
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        workers = 1
    workers = max(1, min(workers, len(chunks)))
    if workers == 1:
        return sum(_topup_chunk(chunk, now) for chunk in chunks)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slots-topup") as pool:
        # Each thread's own copy of the context, so that its spans join the caller's trace.
        runs = [
            pool.submit(contextvars.copy_context().run, _topup_chunks_in_thread, chunks[i::workers], now)
            for i in range(workers)
        ]
        return sum(run.result() for run in runs)


def _topup_chunks_in_thread(chunks: list[list[Any]], now: datetime) -> int:
    try:
        return sum(_topup_chunk(chunk, now) for chunk in chunks)
    finally:
        connection.close()  # this thread's own connection


@transaction.atomic
def _topup_chunk(service_ids: list[Any], now: datetime) -> int:
    services = list(
        Service.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=service_ids, is_active=True)
        .select_related("provider")
        .order_by("pk")
    )
    hours = ProviderHours.load_many({s.provider_id for s in services})
    rows: list[NewSlot] = []
    until: dict[date | None, list[Any]] = defaultdict(list)
    shared: dict[DayKey, list[tuple[datetime, datetime]]] = {}
    for service in services:
        first, last = service_horizon(service, now)
        if service.slots_generated_until is not None:
            first = max(first, service.slots_generated_until + timedelta(days=1))
        if first > last:
            continue
        hours_of = hours[service.provider_id]
        rows.extend(_build_slots(service=service, hours=hours_of, days=_days(first, last), now=now, shared=shared))
        until[last].append(service.pk)
    created = slots_insert(rows)
    _record_generated_until(until)
    return created


# --- Provider profile and hours ---------------------------------------------------------------


def _unique_slug(model: type[Provider] | type[Service], base: str, *, exclude_pk: Any = None) -> str:
    root = slugify(base)[:100] or "item"
    candidate, n = root, 2
    qs = model.objects.all()
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    while qs.filter(slug=candidate).exists():
        candidate, n = f"{root}-{n}", n + 1
    return candidate


@transaction.atomic
def provider_account_create(*, email: str, password: str | None) -> User:
    """A provider login; the profile is filled in by the onboarding wizard."""
    return User.objects.create_user(email=email, password=password, role=Role.PROVIDER)


@transaction.atomic
def provider_profile_save(
    *,
    user: User,
    business_name: str,
    timezone_name: str,
    phone: str,
    address: str,
    description: str = "",
) -> Provider:
    """Create or update the profile (onboarding step 1). A new profile moves on to hours."""
    if user.role != Role.PROVIDER:
        raise DomainError("Only provider accounts have a business profile.")
    provider = Provider.objects.select_for_update().filter(user=user).first()
    if provider is None:
        return Provider.objects.create(
            user=user,
            business_name=business_name,
            slug=_unique_slug(Provider, business_name),
            timezone=timezone_name,
            phone=phone,
            address=address,
            description=description,
            onboarding_step=OnboardingStep.HOURS,
            **qr_token_fields(),
        )
    zone_changed = provider.timezone != timezone_name
    provider.business_name = business_name
    provider.timezone = timezone_name
    provider.phone = phone
    provider.address = address
    provider.description = description
    provider.save(update_fields=["business_name", "timezone", "phone", "address", "description", "updated_at"])
    if zone_changed:
        # Wall-clock hours now mean other instants: recompute the future offers, and let the
        # domains that file things by provider-local date refile them (bookings' per-day count).
        slots_regenerate_for_provider(provider=provider)
        for hook in TIMEZONE_CHANGED:
            hook(provider)
    return provider


# Called inside provider_profile_save's transaction after a provider's zone changed. Domains
# above this one register here (AppConfig.ready), since providers/ never imports them.
TIMEZONE_CHANGED: list[Callable[[Provider], object]] = []


@transaction.atomic
def provider_hours_set(
    *,
    provider: Provider,
    weekly: Sequence[tuple[int, time, time]],
    exceptions: Sequence[tuple[date, time | None, time | None]],
) -> Regeneration:
    """Replace the provider's hours and regenerate every service's future offers. Refuses hours
    that fit no day or not every active service's daily limit (ScheduleInvalid)."""
    per_day: dict[int, list[Interval]] = defaultdict(list)
    for day, start, end in weekly:
        per_day[day].append((start, end))
    if errors := rules.hours_errors(per_day.values(), provider.services.filter(is_active=True)):
        raise rules.ScheduleInvalid(errors)
    WeeklyInterval.objects.filter(provider=provider).delete()
    HoursException.objects.filter(provider=provider).delete()
    WeeklyInterval.objects.bulk_create(
        [WeeklyInterval(provider=provider, weekday=d, start_time=s, end_time=e) for d, s, e in weekly]
    )
    HoursException.objects.bulk_create(
        [HoursException(provider=provider, date=d, start_time=s, end_time=e) for d, s, e in exceptions]
    )
    if provider.onboarding_step == OnboardingStep.HOURS:
        provider.onboarding_step = OnboardingStep.SERVICE
        provider.save(update_fields=["onboarding_step", "updated_at"])
    return slots_regenerate_for_provider(provider=provider)


class _Undo(Exception):
    """Raised to roll a preview's savepoint back."""


def provider_hours_preview(
    *,
    provider: Provider,
    weekly: Sequence[tuple[int, time, time]],
    exceptions: Sequence[tuple[date, time | None, time | None]],
) -> Regeneration:
    """What saving these hours would do to the future free times, without saving: the real
    regeneration runs inside a savepoint that is then rolled back (the one definition of the
    offers, not an estimate). Raises ScheduleInvalid like saving would."""
    outcome: Regeneration | None = None
    try:
        with transaction.atomic():
            outcome = provider_hours_set(provider=provider, weekly=weekly, exceptions=exceptions)
            raise _Undo
    except _Undo:
        pass
    if outcome is None:  # pragma: no cover - provider_hours_set returns or raises
        raise RuntimeError("the preview did not run")
    return outcome


def hours_from_rows(
    provider: Provider,
    weekly: Sequence[tuple[int, time, time]],
    exceptions: Sequence[tuple[date, time | None, time | None]],
) -> ProviderHours:
    """Unsaved hours in the shape the schedule readers take (to check appointments against)."""
    return ProviderHours(weekly, exceptions)


# --- Services ---------------------------------------------------------------------------------


def _values(service: Service) -> dict[str, Any]:
    return {f.name: getattr(service, f.name) for f in Service._meta.concrete_fields}


def _weekly(provider: Provider) -> list[list[Interval]]:
    return list(ProviderHours.load(provider).weekly.values())


RULED_FIELDS = frozenset(
    {"duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "max_appointments_per_day"}
)


@transaction.atomic
def service_create(*, provider: Provider, category: Category, name: str, **fields: Any) -> Service:
    """Create a service and its slots for the booking window; finishes onboarding. Refuses
    settings that break providers.rules (ScheduleInvalid, per field)."""
    # An unsaved instance supplies the model's defaults for what the caller left out.
    probe = Service(provider=provider, category=category, name=name, **fields)
    if errors := rules.service_errors(_values(probe), weekly=_weekly(provider)):
        raise rules.ScheduleInvalid(errors)
    service = Service.objects.create(
        provider=provider,
        category=category,
        name=name,
        slug=_unique_slug(Service, f"{name} {provider.business_name}"),
        **fields,
    )
    if provider.onboarding_step == OnboardingStep.SERVICE:
        provider.onboarding_step = OnboardingStep.DONE
        provider.save(update_fields=["onboarding_step", "updated_at"])
    slots_regenerate(service=service)
    service.refresh_from_db()
    return service


@transaction.atomic
def service_update(*, service: Service, **fields: Any) -> Regeneration | None:
    """Change a service; if its schedule changed, regenerate its future offers. Refuses
    settings that break providers.rules (ScheduleInvalid, per field); nothing changes then."""
    changed = [name for name, value in fields.items() if getattr(service, name) != value]
    merged = _values(service) | fields
    weekly = _weekly(service.provider) if RULED_FIELDS.intersection(changed) and merged["is_active"] else None
    if errors := rules.service_errors(merged, weekly=weekly):
        raise rules.ScheduleInvalid(errors)
    for name in changed:
        setattr(service, name, fields[name])
    if not changed:
        return None
    service.save(update_fields=[*changed, "updated_at"])
    if SCHEDULE_FIELDS.intersection(changed):
        return slots_regenerate(service=service)
    return None


# --- The check-in QR code and automatic no-shows ---------------------------------------------


@transaction.atomic
def provider_qr_rotate(*, provider: Provider) -> Provider:
    """Issue a new check-in code: printed copies of the old one stop working at once."""
    fields = qr_token_fields()
    Provider.objects.filter(pk=provider.pk).update(**fields, updated_at=timezone.now())
    provider.qr_token, provider.qr_token_digest = fields["qr_token"], fields["qr_token_digest"]
    return provider


@transaction.atomic
def provider_auto_no_show_set(*, provider: Provider, enabled: bool, now: datetime | None = None) -> Provider:
    """Switch automatic no-shows on or off. Switched on, only appointments that end after this
    moment are ever marked (never the history from before); already on, nothing changes; a
    switch off and on again starts from the new moment (what ended while off stays unmarked)."""
    since = (now or timezone.now()) if enabled else None
    if enabled and provider.auto_no_show_since is not None:
        return provider  # already on: keep the moment it was switched on
    provider.auto_no_show_since = since
    provider.save(update_fields=["auto_no_show_since", "updated_at"])
    return provider
