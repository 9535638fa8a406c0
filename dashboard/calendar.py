"""The day view's time grid: where each appointment sits, in real elapsed time.

Positions are measured in UTC from the grid's first hour, so a day with a DST change is 23 or 25
hours tall and its hour lines say which offset they are in (02:00 CEST, then 02:00 CET), instead of
two appointments an hour apart landing on the same spot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_HOURS = (8, 18)  # a closed day with nothing booked still shows a working day
PX_PER_HOUR = 80
# Positions go to the page as classes of static/css/timegrid.css (the Content-Security-Policy
# allows no style attributes): whole steps of STEP_MINUTES from the grid's top.
STEP_MINUTES = 5
MAX_HOURS = 26  # a day with the clocks going back is 25 hours
MAX_LANES = 8


def _steps(seconds: float) -> int:
    return round(seconds / 60 / STEP_MINUTES)


@dataclass(frozen=True)
class GridLine:
    label: str
    top: float  # percent of the grid's height
    at: int = 0  # STEP_MINUTES steps from the top (the page's position class)


@dataclass(frozen=True)
class GridItem:
    appointment: Any
    top: float
    height: float
    lane: int
    at: int = 0  # STEP_MINUTES steps from the top
    span: int = 1  # STEP_MINUTES steps tall (at least one, so a block stays visible)


@dataclass(frozen=True)
class DayGrid:
    lines: list[GridLine]
    items: list[GridItem]
    lanes: int
    height_px: int
    hours: int = 0
    now_at: int | None = None  # STEP_MINUTES steps from the top to "now", when it is on the grid


def _local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """Local `hour`:00 of `day` (24 = the next midnight) in UTC. zoneinfo reads a wall time in a
    DST gap with the offset before the change, which lands after the gap (02:00 -> 03:00 CEST),
    and a repeated wall time as its first occurrence: both what a grid line should be."""
    if hour >= 24:
        day, hour = day + timedelta(days=1), 0
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def day_grid(
    *,
    day: date,
    tz: ZoneInfo,
    appointments: Sequence[Any],
    open_intervals: Iterable[tuple[time, time]],
    now: datetime | None = None,
) -> DayGrid:
    """Lay out one provider-local day: from the earlier of opening time and the first appointment
    to the later of closing time and the last one, whole hours, with overlapping appointments
    (a cancelled one and its replacement) side by side in lanes."""
    day_start, day_end = _local(day, 0, tz), _local(day, 24, tz)
    first_hour, last_hour = 24, 0
    for opens, closes in open_intervals:
        first_hour = min(first_hour, opens.hour)
        last_hour = max(last_hour, closes.hour + (1 if closes.minute or closes.second else 0))
    for a in appointments:
        start, end = max(a.start, day_start), min(a.end, day_end)
        first_hour = min(first_hour, 0 if start == day_start else start.astimezone(tz).hour)
        if end == day_end:
            last_hour = 24
        else:
            end_local = end.astimezone(tz)
            last_hour = max(last_hour, end_local.hour + (1 if end_local.minute or end_local.second else 0))
    if first_hour >= last_hour:
        first_hour, last_hour = DEFAULT_HOURS
    top, bottom = _local(day, first_hour, tz), _local(day, last_hour, tz)
    total = (bottom - top).total_seconds()

    lines = []
    moment = top
    previous_offset = None
    while moment < bottom:
        local = moment.astimezone(tz)
        label = local.strftime("%H:%M")
        if previous_offset is not None and local.utcoffset() != previous_offset:
            label += f" {local.tzname()}"  # the hour the clocks change: say which one this is
        previous_offset = local.utcoffset()
        offset = (moment - top).total_seconds()
        lines.append(GridLine(label, round(offset / total * 100, 3), _steps(offset)))
        moment += timedelta(hours=1)

    items: list[GridItem] = []
    lane_ends: list[datetime] = []
    for a in sorted(appointments, key=lambda a: (a.start, a.end)):
        start, end = max(a.start, top), min(a.end, bottom)
        lane = next((i for i, busy_until in enumerate(lane_ends) if busy_until <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        else:
            lane_ends[lane] = end
        items.append(
            GridItem(
                appointment=a,
                top=round((start - top).total_seconds() / total * 100, 3),
                height=round(max(end - start, timedelta(0)).total_seconds() / total * 100, 3),
                lane=min(lane, MAX_LANES - 1),
                at=_steps((start - top).total_seconds()),
                span=max(1, _steps(max(end - start, timedelta(0)).total_seconds())),
            )
        )
    return DayGrid(
        lines=lines,
        items=items,
        lanes=min(max(1, len(lane_ends)), MAX_LANES),
        height_px=int(total / 3600 * PX_PER_HOUR),
        hours=round(total / 3600),
        now_at=_steps((now - top).total_seconds()) if now is not None and top <= now < bottom else None,
    )
