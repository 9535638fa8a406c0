"""The public pages: `/` browse and search, `/services/<slug>/` details and slots."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client

from providers.models import OnboardingStep, Slot
from tests.factories import ProviderFactory, ServiceFactory, UserFactory, book_confirmed, category

pytestmark = pytest.mark.django_db


def test_home_lists_active_services_of_onboarded_providers(client: Client, frozen_now: object) -> None:
    # Given a live service, an inactive one and one of a provider still onboarding
    live = ServiceFactory(name="Beard trim")
    ServiceFactory(name="Hidden inactive", is_active=False)
    ServiceFactory(name="Hidden onboarding", provider=ProviderFactory(onboarding_step=OnboardingStep.HOURS))
    # When a visitor opens the home page
    response = client.get("/")
    # Then only the live service shows, with provider, duration and price with currency
    body = response.content.decode()
    assert response.status_code == 200
    assert "Beard trim" in body
    assert live.provider.business_name in body
    assert "€35.00" in body
    assert "Hidden" not in body
    assert "1 service" in body


def test_search_by_name_category_and_provider(client: Client, frozen_now: object) -> None:
    hair = ServiceFactory(name="Colour and cut")
    physio = ServiceFactory(name="Back pain session", category=category("health-therapy"))
    tutor_provider = ProviderFactory(business_name="Harbour Maths")
    tutor = ServiceFactory(name="Algebra lesson", provider=tutor_provider, category=category("tutoring-lessons"))

    def names(query: str) -> set[str]:
        body = client.get("/" + query).content.decode()
        return set(re.findall(r'<h3><a href="/services/[^"]+/">([^<]+)</a></h3>', body))

    assert names("?q=colour") == {hair.name}
    assert names("?q=BACK") == {physio.name}
    assert names("?category=tutoring-lessons") == {tutor.name}
    assert names(f"?provider={tutor_provider.slug}") == {tutor.name}
    assert names("?q=harbour") == {tutor.name}  # provider name matches too
    assert names("?q=nothing-like-this") == set()
    assert "No service matches" in client.get("/?q=nothing-like-this").content.decode()


def test_search_results_are_an_htmx_fragment(client: Client, frozen_now: object) -> None:
    ServiceFactory(name="Colour and cut")
    response = client.get("/?q=colour", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body


def test_home_query_count_does_not_grow_with_services(
    client: Client, frozen_now: object, count_queries: Callable[[Callable[[], Any]], int]
) -> None:
    ServiceFactory()
    small = count_queries(lambda: client.get("/"))
    for _ in range(30):
        ServiceFactory()
    large = count_queries(lambda: client.get("/"))
    assert small == large
    assert large <= 5


def test_service_page_shows_metadata_policy_and_zone(client: Client, frozen_now: object) -> None:
    # Given a service with buffers and notice
    service = ServiceFactory(
        name="Deep tissue massage",
        description="Sixty minutes of relief.",
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=120,
        location="Room 2, Hauptstraße 1",
    )
    # When a visitor opens its page
    response = client.get(f"/services/{service.slug}/")
    body = response.content.decode()
    # Then every piece of metadata is there
    assert response.status_code == 200
    for text in (
        "Deep tissue massage",
        "Sixty minutes of relief.",
        service.provider.business_name,
        "Hair &amp; beauty",
        "€35.00",
        "30 minutes",
        "Room 2, Hauptstraße 1",
        "Europe/Berlin",
        "at least 120 minutes before, up to 30 days ahead",
        "14 appointments a day",
        "Cancel at least 24 hours before the start: full refund.",
        "Cancel between 2 and 24 hours before: 50 % refund.",
        "Cancel less than 2 hours before, or after the start: no refund.",
    ):
        assert text in body, text
    # And the first day shown is today with its slots after the 2 h notice, each naming its zone
    assert "Wednesday 25 November 2026" in body
    times = re.findall(r'<a class="slot" href="/book/[0-9a-f-]+/\?service=[^"]+" aria-label="Book ([^"]+)">', body)
    assert times[0] == "Wednesday 25 November 2026, 11:00 CET to 11:30 CET (Europe/Berlin)"
    assert len(times) == 10  # 11:00-12:00 (2) + 13:00-17:00 (8)


def test_day_navigation_by_link_and_htmx(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    url = f"/services/{service.slug}/"
    # A plain link to Saturday: a full page that says there is nothing and points to Monday
    saturday = client.get(url + "?day=2026-11-28").content.decode()
    assert "<html" in saturday
    assert "No free times on this day." in saturday
    assert 'href="?day=2026-11-30"' in saturday
    # The same navigation through HTMX returns just the availability fragment
    fragment = client.get(url + "?day=2026-11-30", headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="availability"')
    assert "<html" not in fragment
    assert "Monday 30 November 2026" in fragment
    assert fragment.count("<time ") == 14
    assert 'aria-current="date"' in fragment


def test_booked_slots_are_not_shown(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    monday = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")
    for slot in list(monday[:3]):
        book_confirmed(UserFactory(), slot)
    body = client.get(f"/services/{service.slug}/?day=2026-11-30").content.decode()
    assert body.count("<time ") == 11


@pytest.mark.parametrize("day", ["not-a-date", "2026-02-30", "2020-01-01", "2027-06-01", ""])
def test_bad_or_out_of_window_day_falls_back_to_first_free_day(client: Client, frozen_now: object, day: str) -> None:
    service = ServiceFactory()
    response = client.get(f"/services/{service.slug}/?day={day}")
    assert response.status_code == 200
    assert "Wednesday 25 November 2026" in response.content.decode()


def test_unknown_or_inactive_service_is_a_404_page(client: Client, frozen_now: object) -> None:
    inactive = ServiceFactory(is_active=False)
    for slug in ("no-such-service", inactive.slug):
        response = client.get(f"/services/{slug}/")
        assert response.status_code == 404
        assert "We can't find that page" in response.content.decode()


def test_service_page_query_count_does_not_grow_with_slots(
    client: Client, frozen_now: object, count_queries: Callable[[Callable[[], Any]], int]
) -> None:
    short = ServiceFactory(booking_window_days=3)
    long = ServiceFactory(booking_window_days=90, max_appointments_per_day=14)
    assert Slot.objects.filter(service=long).count() > 10 * Slot.objects.filter(service=short).count()
    q_short = count_queries(lambda: client.get(f"/services/{short.slug}/"))
    q_long = count_queries(lambda: client.get(f"/services/{long.slug}/"))
    assert q_short == q_long
    assert q_long <= 4


def test_last_day_of_window_has_no_next_link(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    last = date(2026, 11, 25) + timedelta(days=29)
    body = client.get(f"/services/{service.slug}/?day={last.isoformat()}").content.decode()
    assert "Next day →" not in body
    assert "← Previous day" in body


def test_healthz(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
