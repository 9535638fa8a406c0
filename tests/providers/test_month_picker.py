"""Picking a day on a month calendar: free days are links (with their count in words), others
plain text; months move within the booking window; every link works without JavaScript; a date
outside the window says so. Now: Wednesday 25 November 2026; the provider opens Mon-Fri;
bookable 30 days ahead (until Thursday 24 December)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.test import Client

from providers.month_picker import month_view
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(frozen_now: object) -> Any:
    return ServiceFactory(name="Massage", max_appointments_per_day=14)


def days_linked(html: str) -> list[str]:
    return re.findall(r'<a class="day[^"]*" href="[^"?]*\?day=(\d{4}-\d\d-\d\d)"', html)


def test_the_month_marks_free_days_as_links(client: Client, service: Any) -> None:
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert '<h3 id="month-title">November 2026</h3>' in page
    linked = days_linked(page)
    # Wed 25 to Mon 30 November, weekdays only (today from 09:30: 09:00 Berlin is now)
    assert linked == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30"]
    assert 'aria-label="Wednesday 25 November: 13 free times"' in page
    assert 'aria-current="date"' in page
    assert '<span class="day none">28<span class="visually-hidden">, no free times</span></span>' in page
    assert 'aria-label="Next month, December 2026"' in page
    assert "Previous month" not in page  # nothing before this month is bookable


def test_the_next_month_opens_on_its_first_free_day(client: Client, service: Any) -> None:
    page = client.get(f"/services/{service.slug}/?month=2026-12").content.decode()
    assert '<h3 id="month-title">December 2026</h3>' in page
    assert "Tuesday 1 December 2026" in page  # the day shown below the calendar
    linked = days_linked(page)
    assert linked[0] == "2026-12-01"
    assert linked[-1] == "2026-12-24"  # the window's last day; nothing after it
    assert "Next month" not in page
    assert 'aria-label="Previous month, November 2026"' in page


def test_a_full_day_is_not_a_link(client: Client, service: Any) -> None:
    from providers.models import Slot

    friday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 27)))
    for slot in friday:
        book_confirmed(UserFactory(), slot)
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert "2026-11-27" not in days_linked(page)


@pytest.mark.parametrize("raw", ["2027-03-01", "2026-01-05"])
def test_a_day_outside_the_window_says_so(client: Client, service: Any, raw: str) -> None:
    page = client.get(f"/services/{service.slug}/?day={raw}").content.decode()
    assert "is outside the booking window" in page
    assert "can be booked from today until Thursday 24 December" in page


@pytest.mark.parametrize("raw", ["garbage", "2026-13", "9999-12", "-1-1"])
def test_a_bad_month_is_ignored(client: Client, service: Any, raw: str) -> None:
    response = client.get(f"/services/{service.slug}/?month={raw}")
    assert response.status_code == 200
    assert '<h3 id="month-title">' in response.content.decode()


def test_the_reschedule_page_uses_the_same_picker(service: Any) -> None:
    from providers.models import Slot

    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    client = Client()
    client.force_login(customer)
    page = client.get(f"/appointments/{appointment.pk}/reschedule/?month=2026-12").content.decode()
    assert '<h3 id="month-title">December 2026</h3>' in page
    assert f'href="/appointments/{appointment.pk}/reschedule/?day=2026-12-01"' in page


def test_months_are_clamped_to_the_window() -> None:
    today, last = date(2026, 11, 25), date(2026, 12, 24)
    assert month_view(month=date(2030, 1, 1), counts={}, selected=today, today=today, last=last).first == date(
        2026, 12, 1
    )
    before = month_view(month=date(2020, 1, 1), counts={}, selected=today, today=today, last=last)
    assert before.first == date(2026, 11, 1)
    assert before.prev_month is None
