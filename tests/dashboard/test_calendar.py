"""The day view's time grid and the week view, with the checkboxes that feed bulk cancel."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from dashboard.calendar import day_grid

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = [(time(9), time(12)), (time(13), time(17))]


@dataclass
class Booked:
    start: datetime
    end: datetime


def at(day: str, hh: int, mm: int = 0, minutes: int = 30) -> Booked:
    start = datetime.fromisoformat(day).replace(hour=hh, minute=mm, tzinfo=BERLIN)
    return Booked(start, start + timedelta(minutes=minutes))


def test_grid_spans_the_opening_hours_and_places_appointments_by_time() -> None:
    # Given office hours 09-17 and appointments at 09:00 and 13:30 (30 min)
    grid = day_grid(
        day=date(2026, 11, 30),
        tz=BERLIN,
        appointments=[at("2026-11-30", 9), at("2026-11-30", 13, 30)],
        open_intervals=OFFICE,
    )
    # Then the grid is 8 hours tall, an hour line each, and each item sits at its time
    assert [line.label for line in grid.lines] == [f"{h:02d}:00" for h in range(9, 17)]
    assert [(i.top, i.height, i.lane) for i in grid.items] == [(0.0, 6.25, 0), (56.25, 6.25, 0)]
    assert grid.lanes == 1
    assert grid.height_px == 8 * 80


def test_grid_grows_to_appointments_outside_the_hours_and_puts_overlaps_side_by_side() -> None:
    # Given an early appointment, a late one, and two at the same time (a cancelled one and its rebooking)
    early, late = at("2026-11-30", 7, 15), at("2026-11-30", 18, 45, minutes=60)
    grid = day_grid(
        day=date(2026, 11, 30),
        tz=BERLIN,
        appointments=[late, at("2026-11-30", 10), early, at("2026-11-30", 10)],
        open_intervals=OFFICE,
    )
    assert grid.lines[0].label == "07:00"
    assert grid.lines[-1].label == "19:00"  # the grid ends at 20:00, after the 18:45-19:45 one
    assert next(i.appointment for i in grid.items) is early
    assert [i.lane for i in grid.items] == [0, 0, 1, 0]
    assert grid.lanes == 2


def test_a_closed_day_with_nothing_booked_shows_a_working_day() -> None:
    grid = day_grid(day=date(2026, 11, 29), tz=BERLIN, appointments=[], open_intervals=[])
    assert (grid.lines[0].label, grid.lines[-1].label, grid.items) == ("08:00", "17:00", [])


def test_dst_days_are_23_and_25_hours_tall_and_say_which_hour_is_which() -> None:
    # Given a provider open around the clock on the days the clocks change in Berlin
    around_the_clock = [(time(0), time(23, 59))]
    autumn = day_grid(day=date(2026, 10, 25), tz=BERLIN, appointments=[], open_intervals=around_the_clock)
    spring = day_grid(day=date(2027, 3, 28), tz=BERLIN, appointments=[], open_intervals=around_the_clock)
    # Then autumn has 25 hour lines with 02:00 twice, told apart by zone; spring skips 02:00
    labels = [line.label for line in autumn.lines]
    assert len(labels) == 25
    assert labels[1:5] == ["01:00", "02:00", "02:00 CET", "03:00"]
    assert [line.label for line in spring.lines][1:4] == ["01:00", "03:00 CEST", "04:00"]
    assert len(spring.lines) == 23
    # And an appointment after the change sits by real elapsed time: 03:00 CET is 4 h after midnight
    four_hours_in = datetime(2026, 10, 25, 2, 0, tzinfo=UTC)  # 03:00 CET
    placed = day_grid(
        day=date(2026, 10, 25),
        tz=BERLIN,
        appointments=[Booked(four_hours_in, four_hours_in + timedelta(hours=1))],
        open_intervals=around_the_clock,
    )
    assert placed.items[0].top == round(4 / 25 * 100, 3)


@pytest.mark.django_db
def test_day_view_places_appointments_on_the_grid_with_checkboxes(client: Client, setup: dict[str, Any]) -> None:
    first, second, third = setup["booked"]
    Appointment.objects.filter(pk=third.pk).update(status=AppointmentStatus.CANCELLED)
    page = client.get("/dashboard?day=2026-11-30").content.decode()
    grid = page.split('<div class="timegrid ')[1].split("</section>")[0]
    # The 09:00 appointment is at the top of a 09-17 grid; the 09:30 one an eighth of an hour lower
    # 09:00 and 09:30 on a grid from 09:00: at 0 and 6 five-minute steps, 6 steps tall
    assert re.search(r'class="status-confirmed tg-at-0 tg-span-6 tg-lane-0 tg-lanes-1"', grid)
    assert re.search(r'class="status-confirmed tg-at-6 tg-span-6 tg-lane-0 tg-lanes-1"', grid)
    assert "style=" not in grid
    assert "09:00–09:30 CET" in grid
    assert "c0@example.com" in grid
    assert "€40.00 paid" in grid
    # Each upcoming confirmed appointment has a checkbox for the bulk-cancel form; the cancelled one not
    boxes = re.findall(r'<input type="checkbox" name="ids" value="([^"]+)" form="cancel-picked"', grid)
    assert boxes == [str(first.pk), str(second.pk)]
    # ... each labelled with what it picks, its time in the provider's zone (CET, not UTC)
    assert (
        f'<input type="checkbox" name="ids" value="{first.pk}" form="cancel-picked" id="pick-day-{first.pk}" '
        f'hx-preserve="true" class="pick" aria-label="Select {first.service.name} with c0@example.com on '
        'Mon 30 Nov 09:00 CET">'
    ) in grid
    assert grid.count("€40.00 paid") == 2  # the cancelled one's money is on its own page
    assert '<form method="post" action="/dashboard/appointments/cancel" id="cancel-picked"' in grid


@pytest.mark.django_db
def test_week_view_has_the_same_checkboxes(client: Client, setup: dict[str, Any]) -> None:
    fragment = client.get("/dashboard?view=week&day=2026-12-03", headers={"HX-Request": "true"}).content.decode()
    boxes = re.findall(r'name="ids" value="([^"]+)" form="cancel-picked"', fragment)
    assert boxes == [str(a.pk) for a in setup["booked"]]
    first = setup["booked"][0]
    label = f'id="pick-week-{first.pk}" hx-preserve="true" class="pick" aria-label="Select {first.service.name}'
    assert label in fragment
    assert 'id="cancel-picked"' in fragment
    assert 'name="back" value="/dashboard?view=week&amp;day=2026-12-03"' in fragment


@pytest.mark.django_db
def test_past_days_have_no_checkboxes(client: Client, setup: dict[str, Any], frozen_now: Any) -> None:
    frozen_now.move_to("2026-12-01 12:00:00+00:00")
    page = client.get("/dashboard?day=2026-11-30").content.decode()
    assert 'form="cancel-picked"' not in page
    assert 'id="cancel-picked"' not in page
    assert "attendance open" in page  # the block opens with its attendance actions


@pytest.mark.django_db
def test_an_appointment_from_the_evening_before_shows_from_the_top_and_older_ones_do_not(setup: dict[str, Any]) -> None:
    from bookings.selectors import provider_day

    service, provider = setup["service"], setup["provider"]
    midnight = datetime(2026, 12, 2, 0, 0, tzinfo=BERLIN)

    def past(start: datetime, hours: int) -> Appointment:
        return Appointment.objects.create(
            customer=setup["customers"][0],
            provider=provider,
            service=service,
            local_date=start.date(),
            start=start,
            end=start + timedelta(hours=hours),
            status=AppointmentStatus.COMPLETED,
            price_minor=4000,
            currency="EUR",
            idempotency_key=str(uuid.uuid4()),
        )

    # Given a 12-hour appointment from 22:00 the evening before, and one that ended at 23:00
    overnight = past(midnight - timedelta(hours=2), 12)
    over_before = past(midnight - timedelta(hours=13), 12)
    # When the provider opens the day
    shown = provider_day(provider=provider, start=midnight, end=midnight + timedelta(days=1))
    # Then the overnight one is there, from the top of a grid that starts at midnight; the other is not
    assert overnight in shown
    assert over_before not in shown
    grid = day_grid(day=date(2026, 12, 2), tz=BERLIN, appointments=shown, open_intervals=OFFICE)
    assert (grid.lines[0].label, grid.items[0].appointment, grid.items[0].top) == ("00:00", overnight, 0.0)


@pytest.mark.django_db
def test_todays_grid_shows_now_and_other_days_do_not(client: Any, setup: dict[str, Any], frozen_now: Any) -> None:
    frozen_now.move_to(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))  # 10:30 in Berlin; the grid starts 09:00
    today = client.get("/dashboard").content.decode()
    assert '<div class="timegrid-now tg-at-18" aria-hidden="true"><span>now 10:30</span></div>' in today
    assert "timegrid-now" not in client.get("/dashboard?day=2026-11-30").content.decode()


@pytest.mark.django_db
def test_an_empty_dashboard_offers_the_public_page_to_share(client: Any, frozen_now: Any) -> None:
    from tests.factories import ServiceFactory

    service = ServiceFactory()
    client.force_login(service.provider.user)
    page = client.get("/dashboard").content.decode()
    assert f'No appointments on this day. Share <a href="/p/{service.provider.slug}/">your public page</a>' in page
    listed = client.get("/dashboard/appointments").content.decode()
    assert f'No upcoming appointments yet. Share <a href="/p/{service.provider.slug}/">your public page</a>' in listed
