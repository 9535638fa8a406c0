"""DST properties of slot arithmetic, over random zones, hours and dates (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.slots import SlotShape, day_slots, local_label, open_runs, wall_clock_capacity

ZONES = [
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Lisbon",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Auckland",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Africa/Casablanca",
    "UTC",
]

# Days around DST changes in 2026-2028 plus ordinary days.
DST_DAYS = [
    date(2027, 3, 14),  # US spring forward (02:00 -> 03:00)
    date(2027, 11, 7),  # US fall back (01:00-02:00 twice)
    date(2027, 3, 28),  # EU spring forward
    date(2027, 10, 31),  # EU fall back
    date(2027, 4, 4),  # AU/NZ fall back
    date(2027, 10, 3),  # AU spring forward
    date(2027, 9, 26),  # NZ spring forward
]

minutes = st.integers(min_value=0, max_value=24 * 60 - 1)


@st.composite
def intervals(draw: st.DrawFn) -> list[tuple[time, time]]:
    """1-3 non-overlapping intervals, often placed across the small hours where DST bites."""
    points = sorted(draw(st.sets(minutes, min_size=2, max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    result = []
    for a, b in zip(points[::2], points[1::2], strict=True):
        result.append((time(a // 60, a % 60), time(b // 60, b % 60)))
    return result


days = st.one_of(st.sampled_from(DST_DAYS), st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)))
shapes = st.builds(
    SlotShape,
    duration=st.sampled_from([timedelta(minutes=m) for m in (10, 15, 20, 30, 45, 50, 60, 90)]),
    buffer_before=st.sampled_from([timedelta(0), timedelta(minutes=5), timedelta(minutes=15)]),
    buffer_after=st.sampled_from([timedelta(0), timedelta(minutes=10)]),
    max_per_day=st.one_of(st.none(), st.integers(min_value=1, max_value=40)),
)


def local_wall(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def exists_as_wall_time(wall: datetime, zone: str) -> bool:
    """A wall time exists if some fold of it round-trips through UTC to itself."""
    tz = ZoneInfo(zone)
    return any(
        wall.replace(tzinfo=tz, fold=fold).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        for fold in (0, 1)
    )


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), day=days, hours=intervals(), shape=shapes)
def test_slots_respect_dst_hours_and_limits(
    zone: str, day: date, hours: list[tuple[time, time]], shape: SlotShape
) -> None:
    slots = day_slots(day, hours, zone, shape)

    starts = [s for s, _ in slots]
    # No duplicates (also none in a fall-back overlap: each is a distinct instant).
    assert len(starts) == len(set(starts))
    # Sorted and not overlapping one another (buffers included).
    for (_s1, e1), (s2, _e2) in itertools.pairwise(slots):
        assert e1 + shape.buffer_after + shape.buffer_before <= s2
    if shape.max_per_day is not None:
        assert len(slots) <= shape.max_per_day
    for start, end in slots:
        assert start.tzinfo is not None
        assert start.utcoffset() == timedelta(0)
        assert end - start == shape.duration
        wall_start = local_wall(start, zone)
        # Never starts inside a spring-forward gap: the wall time shown exists in the zone.
        assert exists_as_wall_time(wall_start, zone)
        assert wall_start.date() == day
        # Every instant of the slot and its buffers lies inside the day's business hours.
        probe = start - shape.buffer_before
        while probe < end + shape.buffer_after:
            wall = local_wall(probe, zone)
            assert wall.date() == day
            assert any(s <= wall.time() < e for s, e in hours), (zone, day, hours, probe)
            probe += timedelta(minutes=5)
        last = local_wall(end + shape.buffer_after - timedelta(seconds=1), zone)
        assert any(s <= last.time() < e for s, e in hours)


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), day=days, hours=intervals())
def test_open_runs_cover_exactly_the_open_wall_clock(zone: str, day: date, hours: list[tuple[time, time]]) -> None:
    runs = open_runs(day, hours, zone)
    # Runs are disjoint and sorted.
    for (_a1, b1), (a2, _b2) in itertools.pairwise(runs):
        assert b1 < a2
    # Sample every 15 minutes of the local day: an instant is in a run iff its wall time is open.
    tz = ZoneInfo(zone)
    t = datetime.combine(day, time(0)).replace(tzinfo=tz).astimezone(UTC) - timedelta(hours=3)
    end = t + timedelta(hours=30)
    while t < end:
        wall = t.astimezone(tz)
        is_open = wall.date() == day and any(s <= wall.time() < e for s, e in hours)
        assert is_open == any(a <= t < b for a, b in runs), (zone, day, hours, t)
        t += timedelta(minutes=15)


def test_spring_forward_gap_has_no_slots_and_loses_an_hour() -> None:
    # Given New York hours 01:00-04:00 on the night the clocks jump from 02:00 to 03:00
    shape = SlotShape(duration=timedelta(minutes=30))
    # When slots are generated
    slots = day_slots(date(2027, 3, 14), [(time(1), time(4))], "America/New_York", shape)
    labels = [local_label(s, "America/New_York") for s, _ in slots]
    # Then only the two real hours are bookable and none starts at 02:xx
    assert labels == [
        "Sun 14 Mar 2027, 01:00 EST",
        "Sun 14 Mar 2027, 01:30 EST",
        "Sun 14 Mar 2027, 03:00 EDT",
        "Sun 14 Mar 2027, 03:30 EDT",
    ]


def test_fall_back_overlap_offers_both_real_hours_once_each() -> None:
    # Given hours 01:00-03:00 on the night 01:00-02:00 happens twice
    shape = SlotShape(duration=timedelta(minutes=60))
    # When
    slots = day_slots(date(2027, 11, 7), [(time(1), time(3))], "America/New_York", shape)
    # Then three real hours, each once, told apart by their zone abbreviation
    assert [local_label(s, "America/New_York") for s, _ in slots] == [
        "Sun 7 Nov 2027, 01:00 EDT",
        "Sun 7 Nov 2027, 01:00 EST",
        "Sun 7 Nov 2027, 02:00 EST",
    ]
    assert [s.isoformat() for s, _ in slots] == [
        "2027-11-07T05:00:00+00:00",
        "2027-11-07T06:00:00+00:00",
        "2027-11-07T07:00:00+00:00",
    ]


def test_per_day_limit_spreads_slots_over_the_day() -> None:
    # Given 09:00-17:00 with 1 h slots (8 fit) and a limit of 4
    shape = SlotShape(duration=timedelta(hours=1), max_per_day=4)
    # When
    slots = day_slots(date(2027, 1, 6), [(time(9), time(17))], "UTC", shape)
    # Then every other hour is offered, not just the morning
    assert [s.hour for s, _ in slots] == [9, 11, 13, 15]


def test_buffers_stay_inside_hours_and_between_slots() -> None:
    shape = SlotShape(
        duration=timedelta(minutes=45), buffer_before=timedelta(minutes=15), buffer_after=timedelta(minutes=15)
    )
    slots = day_slots(date(2027, 1, 6), [(time(9), time(12))], "UTC", shape)
    assert [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in slots] == [
        ("09:15", "10:00"),
        ("10:30", "11:15"),
    ]


def test_capacity_counts_a_lunch_break() -> None:
    shape = SlotShape(duration=timedelta(minutes=30))
    assert wall_clock_capacity([(time(9), time(12)), (time(13), time(17))], shape) == 14
