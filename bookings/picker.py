"""Picking a day and a time of one service: the month calendar and the day's free times, as the
service page, the customer's reschedule page and the provider's walk-in and move pages show
them. One reading of `?day=` / `?month=`, one answer for a day outside the booking window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bookings import availability
from bookings.models import Appointment
from providers.models import Service, Slot
from providers.month_picker import Month, month_of, month_view


def parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        return None


@dataclass(frozen=True)
class DayPick:
    day: date  # the day shown
    month: Month
    slots: list[Slot]  # its free times
    outside: date | None  # a requested day outside the booking window (said, not silently replaced)
    today: date
    last: date  # the window's last day
    counts: dict[date, int]  # free times per day in the window


def pick_day(
    params: Mapping[str, str], *, service: Service, tz: ZoneInfo | None, ignoring: Appointment | None = None
) -> DayPick:
    """The requested day when it is in the window; for a month, its first day with free times
    (else its first day in the window); otherwise the first day with free times."""
    counts = availability.offered_days(service=service, ignoring=ignoring, tz=tz)
    today, last = availability.window_days(service=service, tz=tz)
    requested = parse_day(params.get("day"))
    outside = requested if requested is not None and not today <= requested <= last else None
    month = month_of(params.get("month"))
    days = sorted(counts)
    if requested is not None and outside is None:
        day = requested
    elif month is not None:
        day = next((d for d in days if (d.year, d.month) == (month.year, month.month)), max(today, month))
    else:
        day = days[0] if days else today
    return DayPick(
        day=day,
        month=month_view(month=month or day, counts=counts, selected=day, today=today, last=last),
        slots=availability.offered_on(service=service, day=day, ignoring=ignoring, tz=tz),
        outside=outside,
        today=today,
        last=last,
        counts=counts,
    )
