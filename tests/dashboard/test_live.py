"""The dashboard's one live mechanism: `GET /dashboard/changes?after=<event id>` answers 204 while
nothing changed (a fixed, small number of queries) and the fresh fragment when something did."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from bookings.models import AppointmentEvent
from bookings.services import appointment_check_in

pytestmark = pytest.mark.django_db

MONDAY_0905_CET = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)


def cursor(html: str) -> int:
    found = re.search(r'data-live-after="(\d+)"', html)
    assert found, "the page has no live poll"
    return int(found.group(1))


def poll(client: Client, after: int, day: str = "2026-11-30", view: str = "day") -> Any:
    return client.get(f"/dashboard/changes?after={after}&view={view}&day={day}", headers={"HX-Request": "true"})


def test_the_page_polls_from_its_latest_event(client: Client, setup: dict[str, Any]) -> None:
    page = client.get("/dashboard?day=2026-11-30").content.decode()
    last = AppointmentEvent.objects.filter(provider=setup["provider"]).latest("pk").pk
    assert cursor(page) == last
    assert f'hx-get="/dashboard/changes?after={last}&amp;view=day&amp;day=2026-11-30"' in page
    assert 'hx-trigger="every 5s"' in page
    # The day navigation fragment carries the poll too (it moves with the day shown)
    fragment = client.get("/dashboard?day=2026-12-01", headers={"HX-Request": "true"}).content.decode()
    assert "view=day&amp;day=2026-12-01" in fragment


def test_nothing_changed_is_a_204_in_four_queries(
    client: Client, setup: dict[str, Any], django_assert_num_queries: Any
) -> None:
    last = cursor(client.get("/dashboard").content.decode())
    # session, user, provider profile, the latest event id
    with django_assert_num_queries(4):
        response = poll(client, last)
    assert response.status_code == 204
    assert response.content == b""


# session, user, profile, latest event id, weekly hours and exceptions, the day's appointments,
# the latest events, reschedule requests, the unread count (the badge)
POLL_WITH_NEWS_QUERIES = 10


def test_a_check_in_appears_on_todays_view_through_the_poll(
    client: Client, setup: dict[str, Any], frozen_now: Any, django_assert_num_queries: Any
) -> None:
    frozen_now.move_to(MONDAY_0905_CET)
    page = client.get("/dashboard").content.decode()
    last = cursor(page)
    first = setup["booked"][0]
    assert "checked in 09:05" not in page
    # When the customer scans the code
    appointment_check_in(customer=first.customer, provider=setup["provider"])
    with django_assert_num_queries(POLL_WITH_NEWS_QUERIES):
        response = poll(client, last, day="2026-11-30")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="day"')
    assert cursor(body) > last
    assert "checked in 09:05" in body
    assert re.search(r"09:05</time> · Checked in \(QR code\) · Haircut \d+ 09:00 · c0@example.com", body)
    assert '<span class="badge status-completed">Attended</span>' in body
    # The reschedule requests come along out of band
    assert re.search(r'<section class="card requests" id="requests" [^>]*hx-swap-oob="true">', body)
    # and so does the navigation's unread badge
    assert re.search(r'<span id="unread-badge" class="count[^"]*" hx-swap-oob="true">', body)
    # And the next poll from the new cursor is quiet again
    assert poll(client, cursor(body)).status_code == 204


def test_other_providers_changes_never_wake_the_poll(client: Client, setup: dict[str, Any]) -> None:
    from providers.models import Slot
    from tests.factories import ServiceFactory, UserFactory, book_confirmed

    last = cursor(client.get("/dashboard").content.decode())
    other = ServiceFactory()
    book_confirmed(UserFactory(), Slot.objects.filter(service=other).first())
    assert poll(client, last).status_code == 204


@pytest.mark.parametrize("after", ["", "abc", "-5", "1e9999", "9" * 40])
def test_a_bad_cursor_gets_the_fragment_or_nothing_never_an_error(
    client: Client, setup: dict[str, Any], after: str
) -> None:
    response = client.get(f"/dashboard/changes?after={after}", headers={"HX-Request": "true"})
    assert response.status_code in (200, 204)


def test_the_poll_after_the_session_ended_sends_the_page_to_the_login(setup: dict[str, Any]) -> None:
    response = Client().get("/dashboard/changes?after=0", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login-provider"
    customer = Client()
    customer.force_login(setup["customers"][0])
    assert customer.get("/dashboard/changes?after=0").status_code == 403


def test_the_poll_costs_the_same_with_100_providers_busy_around_it(
    client: Client, setup: dict[str, Any], django_assert_num_queries: Any
) -> None:
    from providers.models import Slot
    from tests.factories import ServiceFactory, UserFactory, book_confirmed

    # Given 99 more providers, each with bookings (and so events) of their own
    customer = UserFactory()
    for _ in range(99):
        other = ServiceFactory()
        for slot in Slot.objects.filter(service=other).order_by("start")[:2]:
            book_confirmed(customer, slot)
    last = cursor(client.get("/dashboard?day=2026-11-30").content.decode())
    # When nothing of this provider's changed, the poll is the same 4 queries
    with django_assert_num_queries(4):
        assert poll(client, last).status_code == 204
    with django_assert_num_queries(4):
        assert poll(client, last, view="badge").status_code == 204
    # When something did, the same counts as with one provider
    first = setup["booked"][0]
    from bookings.services import appointment_cancel_by_provider

    appointment_cancel_by_provider(appointment=first, provider=setup["provider"], reason="")
    with django_assert_num_queries(POLL_WITH_NEWS_QUERIES):
        assert poll(client, last).status_code == 200
    # Other pages' poll: session, user, profile, latest event id, unread count
    with django_assert_num_queries(5):
        badge = poll(client, last, view="badge")
    body = badge.content.decode()
    assert badge.status_code == 200
    assert body.lstrip().startswith('<div id="live-poll" hidden')
    assert cursor(body) > last
    assert re.search(r'<span id="unread-badge" class="count" hx-swap-oob="true">\d+<span', body)
