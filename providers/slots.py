"""Pure slot arithmetic: provider-local wall-clock hours + IANA zone -> UTC slot instants.

No database access here, so the DST rules can be tested exhaustively (hypothesis).

Definition (docs/adr/0001): a day's *open time* is the set of instants whose local wall-clock
time on that date falls inside one of the day's intervals [start, end). It is made of runs of
contiguous instants. On a spring-forward day the missing hour is simply not there; on a
fall-back day the repeated hour is there twice (two different instants, shown with two
different zone abbreviations). Slots are laid end to end inside each run:
buffer_before + duration + buffer_after, the buffers inside open time too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

Interval = tuple[time, time]
Span = tuple[datetime, datetime]

_SCAN_STEP = timedelta(hours=1)
_MARGIN = timedelta(hours=15)  # UTC offsets lie within -12h..+14h


@dataclass(frozen=True)
class SlotShape:
    duration: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    max_per_day: int | None = None

    @property
    def step(self) -> timedelta:
        return self.buffer_before + self.duration + self.buffer_after


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    """UTC offset of the zone at this instant (ZoneInfo always has one)."""
    return instant.astimezone(tz).utcoffset() or timedelta(0)


@lru_cache(maxsize=8192)
def offset_segments(tz_key: str, day: date) -> tuple[tuple[datetime, datetime, timedelta], ...]:
    """UTC spans of constant UTC offset that cover every instant whose local date is `day`."""
    tz = ZoneInfo(tz_key)
    lo = datetime.combine(day, time(0), tzinfo=UTC) - _MARGIN
    hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) + _MARGIN
    segments: list[tuple[datetime, datetime, timedelta]] = []
    seg_start = lo
    offset = _offset(lo, tz)
    t = lo
    while t < hi:
        nxt = min(t + _SCAN_STEP, hi)
        nxt_offset = _offset(nxt, tz)
        if nxt_offset != offset:
            # Binary search for the transition instant to the second.
            a, b = t, nxt
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) // 2
                if _offset(mid, tz) == offset:
                    a = mid
                else:
                    b = mid
            segments.append((seg_start, b, offset))
            seg_start = b
            offset = _offset(b, tz)
        t = nxt
    segments.append((seg_start, hi, offset))
    return tuple(segments)


def open_runs(day: date, intervals: Iterable[Interval], tz_key: str) -> list[Span]:
    """Runs of contiguous UTC instants whose local wall time on `day` is in an interval."""
    pieces: list[Span] = []
    segments = offset_segments(tz_key, day)
    for start_t, end_t in intervals:
        local_start = datetime.combine(day, start_t)
        local_end = datetime.combine(day, end_t)
        for seg_lo, seg_hi, offset in segments:
            lo = max((local_start - offset).replace(tzinfo=UTC), seg_lo)
            hi = min((local_end - offset).replace(tzinfo=UTC), seg_hi)
            if lo < hi:
                pieces.append((lo, hi))
    pieces.sort()
    runs: list[Span] = []
    for lo, hi in pieces:
        if runs and lo <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
        else:
            runs.append((lo, hi))
    return runs


def _overlaps(span: Span, blocked: Sequence[Span]) -> bool:
    return any(span[0] < b_hi and b_lo < span[1] for b_lo, b_hi in blocked)


def spread(items: Sequence[Span], limit: int) -> list[Span]:
    """At most `limit` items, evenly spread over the day rather than the first `limit`."""
    n = len(items)
    if n <= limit:
        return list(items)
    return [items[(i * n) // limit] for i in range(limit)]


def day_slots(
    day: date,
    intervals: Iterable[Interval],
    tz_key: str,
    shape: SlotShape,
    *,
    after: datetime | None = None,
    blocked: Sequence[Span] = (),
    already_on_day: int = 0,
) -> list[Span]:
    """The slots (UTC start, end) of one provider-local day.

    `after`: only slots starting strictly after this instant (now: never a slot in the past).
    `blocked`: spans already taken (held/booked/past slots) that a new slot must not overlap.
    `already_on_day`: slots of this service kept on this day; they count toward the limit.
    """
    candidates: list[Span] = []
    for run_lo, run_hi in open_runs(day, intervals, tz_key):
        start = run_lo + shape.buffer_before
        while start + shape.duration + shape.buffer_after <= run_hi:
            span = (start, start + shape.duration)
            if (after is None or start > after) and not _overlaps(span, blocked):
                candidates.append(span)
            start += shape.step
    if shape.max_per_day is not None:
        candidates = spread(candidates, max(shape.max_per_day - already_on_day, 0))
    return candidates


def wall_clock_capacity(intervals: Iterable[Interval], shape: SlotShape) -> int:
    """How many slots fit in these intervals on an ordinary day (no DST change, no limit)."""
    unlimited = SlotShape(shape.duration, shape.buffer_before, shape.buffer_after, None)
    return len(day_slots(date(2001, 1, 1), intervals, "UTC", unlimited))


def local_label(instant: datetime, tz_key: str) -> str:
    """`Tue 1 Dec 2026, 09:00 CET` — every time we show names its zone."""
    local = instant.astimezone(ZoneInfo(tz_key))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"
