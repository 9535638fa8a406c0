"""What every booking write shares: errors, the lock order, conflict retries, events, claims.

Lock order, everywhere (docs/adr/0011): the customer row (a hold only: the per-customer hold
limit), the provider row, then appointment rows (by pk), then the slot being booked, then
reschedule requests. A write that changes who holds a provider's
time (hold, reschedule request, reschedule accept) locks the provider row first; that also
makes the per-day limit race-free. Writes that only release time (cancel, expiry, decline) lock
the appointment and never the provider after it. Gateway calls happen outside transactions.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection
from django.db.models import Model, Subquery
from django.utils import timezone

from accounts.models import User
from appointly.compiled import Compiled, as_uuid
from appointly.core import DomainError
from appointly.statements import Writes, insert
from bookings.availability import BookingNotAllowed, SlotUnavailable
from bookings.models import Appointment, AppointmentEvent, RescheduleRequest, TimeClaim
from providers.models import Provider, Slot

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class HoldExpired(DomainError):
    """The hold ran out before payment completed."""


class TryAgain(DomainError):
    """Something else changed the same rows at the same moment, more often than we retry."""


# PostgreSQL: deadlock_detected, serialization_failure; SQLite: a writer waited past its timeout.
_CONFLICT_CODES = {"40P01", "40001"}


def _is_conflict(exc: OperationalError) -> bool:
    code = getattr(exc.__cause__, "sqlstate", None)
    return code in _CONFLICT_CODES or "database is locked" in str(exc)


def retry_on_conflict(answer: Callable[[], DomainError]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a write service again when the database aborted it for a deadlock or a serialization
    failure (a bounded number of times, `BOOKING_CONFLICT_RETRIES`); after that, raise the
    domain error `answer()` gives, which pages render as "just taken" / "try again", never a
    500. Inside a caller's transaction there is nothing to retry: the error is answered at once
    (the service's own atomic block is a savepoint, so the caller's transaction survives)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            tries = 1 if connection.in_atomic_block else settings.BOOKING_CONFLICT_RETRIES
            for attempt in range(1, tries + 1):
                try:
                    return fn(*args, **kwargs)
                except OperationalError as exc:
                    if not _is_conflict(exc):
                        raise
                    logger.warning("%s: conflict on attempt %s: %s", fn.__name__, attempt, exc)
            raise answer()

        return wrapper

    return decorate


def just_taken() -> DomainError:
    return SlotUnavailable("This time was just taken.")


def try_again() -> DomainError:
    return TryAgain("This appointment was being changed at the same moment. Please try again.")


def event(
    appointment: Appointment, kind: str, *, actor: User | None = None, now: datetime | None = None, **data: Any
) -> None:
    events(appointment, (kind, data), actor=actor, now=now)


def events(
    appointment: Appointment,
    *entries: tuple[str, dict[str, Any]],
    actor: User | None = None,
    now: datetime | None = None,
    writes: Writes | None = None,
) -> None:
    """The events of one change (e.g. paid, confirmed), written in one INSERT, in order (or
    added to the change's other `writes`, sent together by the caller)."""
    events_of_many([(appointment, kind, data) for kind, data in entries], actor=actor, now=now, writes=writes)


def events_of_many(
    entries: list[tuple[Appointment, str, dict[str, Any]]],
    *,
    actor: User | None = None,
    now: datetime | None = None,
    writes: Writes | None = None,
) -> None:
    """Events of several appointments (a bulk cancel), in one INSERT, in order."""
    from api.actor import acting

    agent = acting()  # an agent's call says so: {"via": "agent", "token": its name}
    at = now or timezone.now()
    rows = [
        AppointmentEvent(
            appointment=appointment,
            provider_id=appointment.provider_id,
            kind=kind,
            at=at,
            actor=actor,
            data=agent | data,
        )
        for appointment, kind, data in entries
    ]
    insert(rows, writes=writes)


_CUSTOMER: Compiled[Any] = Compiled(
    lambda pk: User.objects.select_for_update(no_key=True).filter(pk=pk).values_list("pk")
)


def lock_customer(customer_id: Any) -> None:
    """First lock of a hold: one customer's holds are counted one at a time."""
    _CUSTOMER.list(pk=customer_id)


def lock_provider(provider_id: Any) -> Provider:
    """First lock of any write that takes provider time (see the module docstring). NO KEY
    UPDATE: it excludes the other writers that take this provider's time, but not the foreign
    key checks of rows that merely point at the provider (new slots, messages)."""
    return Provider.objects.select_for_update(no_key=True).get(pk=provider_id)


def _provider_of(owner: type[Model]) -> Compiled[Provider]:
    return Compiled(
        lambda pk: (
            Provider.objects.select_for_update(no_key=True)
            .select_related("user")
            .filter(pk=Subquery(owner._default_manager.filter(pk=pk).values("provider_id")[:1]))
        )
    )


_PROVIDER_OF = {Slot: _provider_of(Slot), Appointment: _provider_of(Appointment)}


def lock_provider_of(owner: type[Slot | Appointment], pk: Any) -> Provider | None:
    """The provider lock of `lock_provider`, found through the row that names it (an offer, an
    appointment: `owner` and its key) in the same statement; None when there is no such row."""
    return _PROVIDER_OF[owner].first(pk=as_uuid(pk))


_LOCKED_APPOINTMENT = Compiled(
    lambda pk: (
        Appointment.objects.select_for_update(of=("self",))
        .select_related(
            "service",
            "service__provider",
            "provider",
            "provider__user__notify_pref",
            "customer__notify_pref",
        )
        .filter(pk=pk)
    )
)


def lock_appointment(appointment_id: Any) -> Appointment:
    """The appointment, locked, with what its writes and messages read: both people's
    notification preferences included, read in this transaction, so a message sent in it may
    pass `preferences_loaded=True` and `notify_all` asks for none."""
    return _LOCKED_APPOINTMENT.one(pk=as_uuid(appointment_id))


def lock_pending_request(appointment: Appointment) -> RescheduleRequest | None:
    return RescheduleRequest.objects.select_for_update().filter(appointment=appointment, status="pending").first()


def claim_for_appointment(appointment: Appointment, *, writes: Writes | None = None) -> TimeClaim:
    """The appointment's claim of its time; with `writes`, added to them (sent by the caller)."""
    return _claim(
        appointment, appointment.start, appointment.end, appointment.local_date, writes=writes, appointment=appointment
    )


def claim_for_request(request: RescheduleRequest, appointment: Appointment) -> TimeClaim:
    return _claim(appointment, request.new_start, request.new_end, request.new_local_date, reschedule=request)


def _claim(
    of: Appointment, start: datetime, end: datetime, local_date: Any, *, writes: Writes | None = None, **owner: Any
) -> TimeClaim:
    """A claim of `of`'s provider and service, owned by the appointment or request in `owner`."""
    claim = TimeClaim(
        provider_id=of.provider_id,
        service_id=of.service_id,
        local_date=local_date,
        start=start,
        end=end,
        **owner,
    )
    insert([claim], writes=writes)
    return claim


def release_appointment(appointment: Appointment) -> None:
    TimeClaim.objects.filter(appointment=appointment).delete()


def release_request(request: RescheduleRequest) -> None:
    TimeClaim.objects.filter(reschedule=request).delete()


__all__ = [
    "BookingNotAllowed",
    "HoldExpired",
    "SlotUnavailable",
    "TryAgain",
    "claim_for_appointment",
    "claim_for_request",
    "event",
    "events",
    "events_of_many",
    "just_taken",
    "lock_appointment",
    "lock_customer",
    "lock_pending_request",
    "lock_provider",
    "lock_provider_of",
    "release_appointment",
    "release_request",
    "retry_on_conflict",
    "try_again",
]
