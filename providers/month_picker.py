"""The month calendar customers pick a day from (service page, reschedule page): pure data for
`providers/_month_picker.html`. Days are the provider's (the per-day limit is a provider-zone
rule); a day is a link when it has free times, plain text otherwise."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class DayCell:
    day: date
    free: int
    in_month: bool
    selected: bool
    today: bool

    @property
    def pickable(self) -> bool:
        return self.in_month and self.free > 0


@dataclass(frozen=True)
class Month:
    first: date
    weeks: list[list[DayCell]]
    prev_month: date | None  # its first day, when any of it is in the booking window
    next_month: date | None


def month_of(raw: str | None) -> date | None:
    """`2026-12` -> 1 December 2026; anything else -> None."""
    try:
        year, month = (int(part) for part in (raw or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


def month_view(*, month: date, counts: dict[date, int], selected: date, today: date, last: date) -> Month:
    """The weeks (Monday first) of `month`, each day with its number of free times. Months
    outside [today, last] are clamped to the window's first or last month."""
    first = max(date(today.year, today.month, 1), min(month.replace(day=1), date(last.year, last.month, 1)))
    weeks = [
        [
            DayCell(
                day=d,
                free=counts.get(d, 0) if today <= d <= last else 0,
                in_month=d.month == first.month,
                selected=d == selected,
                today=d == today,
            )
            for d in week
        ]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    ]
    prev_last = first - timedelta(days=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Month(
        first=first,
        weeks=weeks,
        prev_month=prev_last.replace(day=1) if prev_last >= today else None,
        next_month=following if following <= last else None,
    )
