"""The weekly hours editor (/dashboard/hours): time inputs per day, closed dates with a date
input, a review of what saving would do before anything is saved, copy to other days, and every
bad input answered at its field with nothing changed."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

import pytest
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from providers.models import HoursException, Slot, WeeklyInterval
from tests.factories import hours_post

pytestmark = pytest.mark.django_db

WEEK = dict.fromkeys(range(5), "09:00-12:00, 13:00-17:00")  # the factory provider's hours


def saved_hours(provider: Any) -> list[tuple[int, time, time]]:
    return sorted(WeeklyInterval.objects.filter(provider=provider).values_list("weekday", "start_time", "end_time"))


def test_the_editor_shows_the_saved_hours_as_time_inputs(client: Client, setup: dict[str, Any]) -> None:
    page = client.get("/dashboard/hours").content.decode()
    assert '<a href="/dashboard/hours" aria-current="page">Hours</a>' in page
    assert '<input type="time" name="d0_s0" value="09:00"' in page
    assert '<input type="time" name="d0_e1" value="17:00"' in page
    assert re.search(r'<input type="checkbox" name="d6_closed"[^>]* checked', page)  # Sunday closed
    assert not re.search(r'<input type="checkbox" name="d0_closed"[^>]* checked', page)
    assert '<input type="date" name="x0_date"' in page


def test_review_says_what_saving_would_do_and_saving_does_exactly_that(client: Client, setup: dict[str, Any]) -> None:
    # Given three bookings on Monday 30 Nov from 09:00; the provider will open Mondays at 13:00
    provider = setup["provider"]
    before_hours, before_slots = saved_hours(provider), set(Slot.objects.values_list("id", flat=True))
    new_week = {**WEEK, 0: "13:00-20:00"}
    # When they review
    review = client.post("/dashboard/hours", hours_post(new_week, action="review"))
    body = review.content.decode()
    # Then the page says how many free times go and come and lists the three bookings, and nothing changed
    assert review.status_code == 200
    said = re.search(
        r"<strong>(\d+)</strong> future free times? will be removed and <strong>(\d+)</strong> added", body
    )
    assert said is not None
    removed, added = int(said[1]), int(said[2])
    assert removed > 0
    assert added > 0
    assert "<strong>3</strong> booked appointments will fall outside your hours" in body
    assert "Mon 30 Nov, 09:00 CET" in body
    assert saved_hours(provider) == before_hours
    assert set(Slot.objects.values_list("id", flat=True)) == before_slots
    assert 'value="save"' in body  # the save button appears only after a review
    # When they save the same hours
    saved = client.post("/dashboard/hours", hours_post(new_week), follow=True).content.decode()
    # Then the numbers are the ones reviewed, the bookings stand, and Today lists them as outside
    assert f"Hours saved: {removed} free times removed and {added} added." in saved
    assert (0, time(13), time(20)) in saved_hours(provider)
    assert Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).count() == 3
    assert "Booked outside your current hours" in client.get("/dashboard").content.decode()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"d0_s0": "12:00", "d0_e0": "09:00"}, "d0_e0", "09:00 is not after 12:00."),
        ({"d0_s1": "11:00", "d0_e1": "14:00"}, "d0_s0", "09:00–12:00 and 11:00–14:00 overlap."),
        ({"d1_e0": ""}, "d1_e0", "Give both a start and an end time."),
        ({"d0_s0": "25:99"}, "d0_s0", "Enter a valid time."),
        ({"x0_date": "2026-11-01", "x0_closed": "on"}, "x0_date", "01 Nov 2026 is in the past."),
        ({"x0_date": "2026-12-24"}, "x0_s", "Give the hours, or tick “Closed all day”."),
        ({"x0_s": "09:00", "x0_e": "12:00"}, "x0_date", "Choose the date these hours are for."),
        ({"x0_date": "someday", "x0_closed": "on"}, "x0_date", "Enter a valid date."),
        (
            {"x0_date": "2026-12-24", "x0_closed": "on", "x1_date": "2026-12-24", "x1_s": "09:00", "x1_e": "12:00"},
            "x0_date",
            "24 Dec 2026 is both closed and open; keep one.",
        ),
    ],
)
def test_bad_input_is_answered_at_its_field_and_changes_nothing(
    client: Client, setup: dict[str, Any], change: dict[str, str], field: str, message: str
) -> None:
    provider = setup["provider"]
    before = saved_hours(provider)
    for action in ("review", "save"):
        response = client.post("/dashboard/hours", {**hours_post(WEEK, action=action), **change})
        body = response.content.decode()
        assert response.status_code == 400
        assert message.replace("“", "&ldquo;").replace("”", "&rdquo;") in body or message in body
        # The message sits in the row of the field it concerns
        row = body.split(f'name="{field}"')[1].split("</fieldset>")[0]
        assert message in row or message.replace("“", "&ldquo;").replace("”", "&rdquo;") in row
        assert saved_hours(provider) == before
        assert not HoursException.objects.exists()


def test_hours_too_short_for_a_services_daily_limit_are_refused(client: Client, setup: dict[str, Any]) -> None:
    # The service allows 14 a day; mornings only fit 6
    response = client.post("/dashboard/hours", hours_post(dict.fromkeys(range(5), "09:00-12:00")))
    assert response.status_code == 400
    assert "fit at most 6 on your longest day" in response.content.decode()
    assert len(saved_hours(setup["provider"])) == 10


def test_copy_puts_a_days_hours_on_the_ticked_days_and_saves_nothing(client: Client, setup: dict[str, Any]) -> None:
    data = {**hours_post(WEEK, action="copy-0"), "copy_to_0": ["5", "6", "9", "x"]}
    response = client.post("/dashboard/hours", data)
    body = response.content.decode()
    assert response.status_code == 200
    for day in (5, 6):
        assert f'<input type="time" name="d{day}_s0" value="09:00"' in body
        assert f'<input type="time" name="d{day}_e1" value="17:00"' in body
        assert not re.search(rf'<input type="checkbox" name="d{day}_closed"[^>]* checked', body)
    assert len(saved_hours(setup["provider"])) == 10  # Mon-Fri only, as saved


def test_closed_dates_and_special_hours_save_and_past_ones_are_kept(client: Client, setup: dict[str, Any]) -> None:
    provider = setup["provider"]
    HoursException.objects.create(provider=provider, date=date(2026, 11, 2))  # closed, in the past
    response = client.post(
        "/dashboard/hours", hours_post(WEEK, ("2026-12-24 09:00-13:00", "2026-12-25 closed")), follow=True
    )
    assert "Hours saved" in response.content.decode()
    assert sorted(HoursException.objects.values_list("date", "start_time", "end_time")) == [
        (date(2026, 11, 2), None, None),
        (date(2026, 12, 24), time(9), time(13)),
        (date(2026, 12, 25), None, None),
    ]
    assert not Slot.objects.filter(slot_date=date(2026, 12, 25)).exists()
    assert max(Slot.objects.filter(slot_date=date(2026, 12, 24)).values_list("end", flat=True)).hour == 12  # 13:00 CET
    # The editor shows the future ones again (the past one is not offered for editing)
    page = client.get("/dashboard/hours").content.decode()
    assert 'name="x0_date" value="2026-12-24"' in page
    assert 'name="x1_date" value="2026-12-25"' in page
    assert "2026-11-02" not in page
