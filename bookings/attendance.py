"""Attendance rules, defined once: when a customer may check in with a provider's QR code, what a
scan answers, and which appointments become no-shows. The check-in page (GET shows, POST does),
the check-in service under its lock and the no-show job all ask these functions.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, QuerySet

from accounts.models import User
from bookings.models import Appointment, AppointmentStatus
from providers.models import Provider

# An appointment in these states may be checked in while its window is open: a no-show the
# provider marked early is corrected by the customer who turns up before the end.
CHECK_IN_FROM = (AppointmentStatus.CONFIRMED, AppointmentStatus.NO_SHOW)


def check_in_opens(appointment: Appointment) -> datetime:
    return appointment.start - timedelta(minutes=settings.ATTENDANCE_CHECK_IN_OPENS_MINUTES)


def check_in_open(appointment: Appointment, now: datetime) -> bool:
    """The window: from ATTENDANCE_CHECK_IN_OPENS_MINUTES before the start until the end."""
    return check_in_opens(appointment) <= now < appointment.end


class Answer(enum.StrEnum):
    READY = "ready"  # a check-in would succeed now
    CHECKED_IN = "checked_in"  # this scan checked the customer in
    ALREADY = "already"  # checked in earlier: harmless
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    CANCELLED = "cancelled"
    UNPAID = "unpaid"
    NONE = "none"  # no appointment with this provider today


@dataclass(frozen=True)
class CheckIn:
    """What a scan means for this customer now. `appointment` is the one the answer is about;
    `next_one` a later appointment today with the same provider (back-to-back bookings)."""

    answer: Answer
    appointment: Appointment | None = None
    next_one: Appointment | None = None

    @property
    def opens_at(self) -> datetime | None:
        return check_in_opens(self.appointment) if self.appointment is not None else None


def check_in_candidates(*, customer: User, provider: Provider, now: datetime) -> QuerySet[Appointment]:
    """The customer's appointments with this provider that a scan now can be about: those on the
    provider-local day of `now`, and any whose window is open (one just after midnight)."""
    tz = ZoneInfo(provider.timezone)
    today = now.astimezone(tz).date()
    day_start = datetime.combine(today, time(0), tzinfo=tz)
    day_end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    opens = timedelta(minutes=settings.ATTENDANCE_CHECK_IN_OPENS_MINUTES)
    return (
        Appointment.objects.filter(
            customer=customer, provider=provider, start__lt=max(day_end, now + opens), end__gt=day_start
        )
        .select_related("service", "provider")
        .order_by("start", "pk")
    )


def check_in_decide(appointments: Sequence[Appointment], now: datetime) -> CheckIn:
    """The answer to a scan. The appointment in progress comes first (back-to-back: the current
    one, never the next one early); then the earliest whose window is open. Without one: the
    next one today (too early), one already checked in, one missed (too late), a cancelled or
    an unpaid one, in that order."""
    live = [a for a in appointments if a.status in (*CHECK_IN_FROM, AppointmentStatus.COMPLETED)]
    open_now = sorted((a for a in live if check_in_open(a, now)), key=lambda a: (a.start > now, a.start))
    if open_now:
        current = open_now[0]
        later = [a for a in live if a.start >= current.end and a.status in CHECK_IN_FROM]
        answer = Answer.ALREADY if current.status == AppointmentStatus.COMPLETED else Answer.READY
        return CheckIn(answer, current, later[0] if later else None)
    upcoming = [a for a in live if a.status in CHECK_IN_FROM and check_in_opens(a) > now]
    if upcoming:
        return CheckIn(Answer.TOO_EARLY, upcoming[0])
    attended = [a for a in live if a.status == AppointmentStatus.COMPLETED]
    if attended:
        return CheckIn(Answer.ALREADY, attended[-1])
    missed = [a for a in live if a.end <= now]
    if missed:
        return CheckIn(Answer.TOO_LATE, missed[-1])
    for status, answer in ((AppointmentStatus.CANCELLED, Answer.CANCELLED), (AppointmentStatus.HELD, Answer.UNPAID)):
        found = [a for a in appointments if a.status == status]
        if found:
            return CheckIn(answer, found[-1])
    return CheckIn(Answer.NONE)


def no_shows_due(*, now: datetime) -> QuerySet[Appointment]:
    """Confirmed appointments of providers who switched automatic no-shows on, that ended more
    than ATTENDANCE_NO_SHOW_AFTER_MINUTES ago without a check-in, and ended after the switch."""
    cutoff = now - timedelta(minutes=settings.ATTENDANCE_NO_SHOW_AFTER_MINUTES)
    return Appointment.objects.filter(
        status=AppointmentStatus.CONFIRMED,
        provider__auto_no_show_since__isnull=False,
        end__lte=cutoff,
        end__gt=F("provider__auto_no_show_since"),
    )
