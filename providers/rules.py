"""The rules a service and a provider's hours must follow, in one place.

The services (`service_create`, `service_update`, `provider_hours_set`) refuse what breaks them
with `ScheduleInvalid`, whose `errors` map a field name (or None for the whole form) to the
message; the forms ask the same functions so that the wizard, the dashboard, the admin and the
API give the same answers in the same words. The simple ranges are also `CheckConstraint`s on
`Service` (docs/adr/0011).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from appointly.core import DomainError
from providers.models import (
    MAX_BUFFER_MINUTES,
    MAX_DURATION_MINUTES,
    MAX_NOTICE_MINUTES,
    MAX_PER_DAY,
    MAX_PRICE_MINOR,
    MAX_WINDOW_DAYS,
    MIN_DURATION_MINUTES,
)
from providers.slots import Interval, SlotShape, wall_clock_capacity


class ScheduleInvalid(DomainError):
    """A service or hours change breaks a rule; `errors` says which, per field."""

    def __init__(self, errors: Mapping[str | None, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


def _shape(fields: Mapping[str, Any]) -> SlotShape:
    from datetime import timedelta

    return SlotShape(
        duration=timedelta(minutes=fields["duration_minutes"]),
        buffer_before=timedelta(minutes=fields.get("buffer_before_minutes") or 0),
        buffer_after=timedelta(minutes=fields.get("buffer_after_minutes") or 0),
        max_per_day=fields.get("max_appointments_per_day"),
    )


def best_day_capacity(days: Iterable[list[Interval]], fields: Mapping[str, Any]) -> int:
    shape = _shape(fields)
    return max((wall_clock_capacity(intervals, shape) for intervals in days), default=0)


def service_errors(fields: Mapping[str, Any], *, weekly: Iterable[list[Interval]] | None) -> dict[str | None, str]:
    """What is wrong with these service settings (all of them, or a merge of the current ones
    and a change). `weekly`: the provider's intervals per weekday, to check the service fits;
    None skips that check (a provider still in the wizard before their hours)."""
    errors: dict[str | None, str] = {}

    def out_of(name: str, low: int, high: int, message: str) -> None:
        value = fields.get(name)
        if value is not None and not low <= value <= high:
            errors[name] = message

    out_of("duration_minutes", MIN_DURATION_MINUTES, 10**9, "An appointment lasts at least 5 minutes.")
    out_of("duration_minutes", 0, MAX_DURATION_MINUTES, "An appointment lasts at most 12 hours.")
    if fields.get("payment_mode") == "free":
        out_of("price_minor", 0, 0, "A free service has no price.")
    else:
        out_of("price_minor", 1, 10**12, "The price must be more than zero.")
    out_of("price_minor", 0, MAX_PRICE_MINOR, "That price is too high for one appointment.")
    out_of("buffer_before_minutes", 0, MAX_BUFFER_MINUTES, f"A buffer is at most {MAX_BUFFER_MINUTES} minutes.")
    out_of("buffer_after_minutes", 0, MAX_BUFFER_MINUTES, f"A buffer is at most {MAX_BUFFER_MINUTES} minutes.")
    out_of("max_appointments_per_day", 1, MAX_PER_DAY, f"Allow 1 to {MAX_PER_DAY} appointments a day.")
    out_of("booking_window_days", 1, MAX_WINDOW_DAYS, f"Customers can book 1 to {MAX_WINDOW_DAYS} days ahead.")
    out_of("min_notice_minutes", 0, MAX_NOTICE_MINUTES, "The notice is at most 14 days (20160 minutes).")
    out_of("refund_partial_percent", 0, 100, "A partial refund is 0 to 100 %.")
    out_of("refund_full_hours", 0, MAX_NOTICE_MINUTES // 60, "The full-refund limit is at most 336 hours (14 days).")
    full, partial = fields.get("refund_full_hours"), fields.get("refund_partial_hours")
    if full is not None and partial is not None and partial > full:
        errors["refund_partial_hours"] = "The partial-refund limit must not be earlier than the full one."
    if weekly is not None and not errors and fields.get("duration_minutes"):
        best = best_day_capacity(weekly, fields)
        if best == 0:
            errors["duration_minutes"] = (
                "No appointment of this length (with its buffers) fits in any of your business hours."
            )
        elif best < fields["max_appointments_per_day"]:
            errors["max_appointments_per_day"] = (
                f"Your longest day fits at most {best} appointments of this length (with buffers). "
                "Lower the limit or extend your business hours."
            )
    return errors


def hours_errors(weekly: Iterable[list[Interval]], services: Iterable[Any]) -> dict[str | None, str]:
    """New weekly hours must still fit every active service's daily limit."""
    days = list(weekly)
    if not any(days):
        return {None: "Open on at least one day of the week, so customers can book you."}
    for service in services:
        fields = {
            "duration_minutes": service.duration_minutes,
            "buffer_before_minutes": service.buffer_before_minutes,
            "buffer_after_minutes": service.buffer_after_minutes,
            "max_appointments_per_day": service.max_appointments_per_day,
        }
        best = best_day_capacity(days, fields)
        if best < service.max_appointments_per_day:
            return {
                None: f"“{service.name}” allows {service.max_appointments_per_day} appointments a day, "
                f"but these hours fit at most {best} on your longest day. "
                "Extend the hours or lower that service's daily limit first."
            }
    return {}
