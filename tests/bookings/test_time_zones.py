"""The visitor's own time zone: detected in the browser (a POST from static/js/timezone.js),
kept on the signed-in user or in a visitor's session, changed on /timezone; pages show times in
it with the provider's beside them when the two differ, and every page and the .ics agree on the
instant."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

TEN_BERLIN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 CET = 09:00 WET in Lisbon


@pytest.fixture
def booked(frozen_now: object) -> dict[str, Any]:
    service = ServiceFactory(name="Physio")
    customer = UserFactory(email="lisbon@example.com", timezone="Europe/Lisbon")
    appointment = book_confirmed(customer, Slot.objects.get(service=service, start=TEN_BERLIN))
    client = Client()
    client.force_login(customer)
    return {"service": service, "customer": customer, "appointment": appointment, "client": client}


def test_a_visitor_in_another_zone_sees_both(booked: dict[str, Any]) -> None:
    page = booked["client"].get(f"/appointments/{booked['appointment'].pk}/").content.decode()
    assert "Monday 30 November 2026, 09:00–09:30 WET" in page
    assert '<span class="zone-note">in Lisbon · 10:00–10:30 CET in Berlin</span>' in page
    account = booked["client"].get("/account/").content.decode()
    assert "09:00–09:30 WET" in account
    assert "10:00–10:30 CET in Berlin" in account


def test_the_same_instant_on_every_page_and_in_the_ics(booked: dict[str, Any]) -> None:
    client, appointment = booked["client"], booked["appointment"]
    instant = TEN_BERLIN.isoformat()
    for url in (f"/appointments/{appointment.pk}/", "/account/", f"/appointments/{appointment.pk}/cancel/"):
        stamps = re.findall(r'<time datetime="([^"]+)"', client.get(url).content.decode())
        assert instant in stamps, url
    ics = client.get(f"/appointments/{appointment.pk}/calendar.ics").content.decode()
    assert "DTSTART:20261130T090000Z" in ics


def test_with_the_providers_zone_only_one_zone_is_shown(booked: dict[str, Any]) -> None:
    User.objects.filter(pk=booked["customer"].pk).update(timezone="Europe/Berlin")
    page = booked["client"].get(f"/appointments/{booked['appointment'].pk}/").content.decode()
    assert '10:00–10:30 CET</time> <span class="muted">(Europe/Berlin)</span>' in page
    assert "zone-note" not in page


def test_the_browser_tells_a_visitor_zone_once_and_a_choice_wins(frozen_now: object) -> None:
    service = ServiceFactory()
    visitor = Client()
    page = visitor.get(f"/services/{service.slug}/?day=2026-11-30").content.decode()
    assert 'data-visitor-tz=""' in page
    assert "zone-note" not in page
    assert visitor.post("/timezone", {"zone": "America/New_York", "detected": "1"}).status_code == 204
    page = visitor.get(f"/services/{service.slug}/?day=2026-11-30").content.decode()
    assert 'data-visitor-tz="America/New_York"' in page
    assert "03:00–03:30 EST" in page  # 09:00 CET
    assert '<span class="zone-note">09:00 in Berlin</span>' in page
    # A second detection (another browser zone) does not replace it; a choice does
    visitor.post("/timezone", {"zone": "Asia/Tokyo", "detected": "1"})
    assert 'data-visitor-tz="America/New_York"' in visitor.get("/").content.decode()
    chosen = visitor.post("/timezone", {"zone": "Asia/Tokyo", "next": f"/services/{service.slug}/"})
    assert chosen.status_code == 302
    assert chosen["Location"] == f"/services/{service.slug}/"
    assert 'data-visitor-tz="Asia/Tokyo"' in visitor.get("/").content.decode()


def test_a_signed_in_customers_zone_is_kept_on_the_account(frozen_now: object) -> None:
    customer = UserFactory()
    client = Client()
    client.force_login(customer)
    client.post("/timezone", {"zone": "Australia/Sydney", "detected": "1"})
    assert User.objects.get(pk=customer.pk).timezone == "Australia/Sydney"
    client.post("/timezone", {"zone": "Europe/Lisbon"})
    assert User.objects.get(pk=customer.pk).timezone == "Europe/Lisbon"


@pytest.mark.parametrize("zone", ["", "Mars/Olympus_Mons", "Europe/Lisbon; DROP TABLE", "x" * 500])
def test_an_unknown_zone_is_refused_at_the_field(frozen_now: object, zone: str) -> None:
    visitor = Client()
    response = visitor.post("/timezone", {"zone": zone})
    assert response.status_code == 400
    body = response.content.decode()
    assert '<ul class="errorlist" id="zone-error"><li>Choose a time zone from the list' in body
    assert 'aria-invalid="true"' in body
    assert visitor.post("/timezone", {"zone": zone, "detected": "1"}).status_code == 204
    assert 'data-visitor-tz=""' in visitor.get("/").content.decode()


def test_the_switcher_offers_canonical_names_and_goes_back_only_to_our_pages(frozen_now: object) -> None:
    page = Client().get("/timezone?next=https://evil.example/").content.decode()
    assert '<option value="Europe/Lisbon">' in page
    assert '<option value="US/Eastern">' not in page
    assert 'name="next" value="/"' in page
    assert date(2026, 11, 25)  # (the fixed clock is a Wednesday; nothing here depends on it)


def test_the_check_in_page_says_when_it_opens_in_the_customers_zone(booked: dict[str, Any], frozen_now: Any) -> None:
    frozen_now.move_to(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))  # 07:00 in Lisbon, 08:00 in Berlin
    page = booked["client"].get(f"/mark?id={booked['service'].provider.qr_token}").content.decode()
    assert "Too early to check in" in page
    assert "08:30 WET" in page  # opens 30 minutes before 10:00 CET = 09:00 WET


def test_messages_name_the_readers_zone_and_the_providers(booked: dict[str, Any]) -> None:
    from notifications.models import Message

    to_customer = Message.objects.filter(recipient=booked["customer"], event="booked_customer").first()
    assert to_customer is not None
    assert "Mon 30 Nov 2026, 09:00 WET (Europe/Lisbon) · 10:00 CET in Berlin" in to_customer.body
    to_provider = Message.objects.filter(event="booked_provider").first()
    assert to_provider is not None
    assert "Mon 30 Nov 2026, 10:00 CET (Europe/Berlin)" in to_provider.body
    assert "WET" not in to_provider.body


def test_days_are_the_visitors_own(frozen_now: object) -> None:
    # Given a Berlin provider open 13:00-17:00 and a visitor in Tokyo (8 hours ahead)
    service = ServiceFactory()
    visitor = Client()
    visitor.post("/timezone", {"zone": "Asia/Tokyo"})
    # Monday's 16:30 in Berlin is Tuesday 00:30 in Tokyo: it is on the visitor's Tuesday
    tuesday = visitor.get(f"/services/{service.slug}/?day=2026-12-01").content.decode()
    assert "00:30–01:00 JST" in tuesday
    assert '<span class="zone-note">16:30 in Berlin</span>' in tuesday
    monday = visitor.get(f"/services/{service.slug}/?day=2026-11-30").content.decode()
    assert "00:30–01:00 JST" not in monday
    assert "17:00–17:30 JST" in monday  # Berlin's Monday 09:00


@pytest.mark.parametrize(
    ("utc_start", "shown"),
    [
        # An ordinary morning, summer and winter: as Django's own English formats write them
        (datetime(2026, 7, 3, 8, 0, tzinfo=UTC), "Friday 3 July 2026, 09:00–09:30 BST"),
        (datetime(2026, 1, 9, 9, 0, tzinfo=UTC), "Friday 9 January 2026, 09:00–09:30 GMT"),
        # The hour London's clocks repeat (25 October 2026): the two 01:15s are told apart
        (datetime(2026, 10, 25, 0, 15, tzinfo=UTC), "Sunday 25 October 2026, 01:15–01:45 BST"),
        (datetime(2026, 10, 25, 1, 15, tzinfo=UTC), "Sunday 25 October 2026, 01:15–01:45 GMT"),
    ],
)
def test_the_when_tag_writes_the_day_the_time_and_the_zone_of_that_instant(utc_start: datetime, shown: str) -> None:
    # Given an appointment's instants and its provider in London
    from datetime import timedelta

    from django.template import Context, Template

    template = Template("{% load when %}{% when start end tz %}")
    # When the tag writes them for a visitor whose zone is unknown
    html = template.render(
        Context({"start": utc_start, "end": utc_start + timedelta(minutes=30), "tz": "Europe/London"})
    )
    # Then the words, with the zone's abbreviation at that instant, and the instant itself
    assert re.sub(r"<[^>]+>", "", html) == f"{shown} (Europe/London)"
    assert f'datetime="{utc_start.isoformat()}"' in html
