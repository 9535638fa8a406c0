"""The dashboard's pages: one navigation on each (the current page marked, the unread badge),
the business and an account menu, each page small, with an exact number of queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bookings.services import reschedule_request
from providers.models import Slot

pytestmark = pytest.mark.django_db

# session, user, provider profile, the layout (unread count and latest event id, one query), then
# the page's own reads: Today also its hours (2), the day, requests, appointments outside the
# hours; services a page of them (their count, the page) and their free times in one query
PAGES = {
    "/dashboard": ("today", 9),
    "/dashboard?view=week": ("calendar", 9),
    "/dashboard/appointments": ("appointments", 5),
    "/dashboard/services": ("services", 7),
    "/dashboard/hours": ("hours", 6),
    "/dashboard/qr": ("qr", 4),
    "/dashboard/earnings": ("earnings", 9),
    "/dashboard/payouts": ("payouts", 5),
    "/dashboard/messages": ("messages", 7),
    "/dashboard/settings": ("settings", 6),  # + the access tokens
}
LABELS = {
    "today": "Today",
    "calendar": "Calendar",
    "appointments": "Appointments",
    "services": "Services",
    "hours": "Hours",
    "qr": "QR code",
    "earnings": "Earnings",
    "payouts": "Payouts",
    "messages": "Messages",
    "settings": "Settings",
}


@pytest.mark.parametrize("url", list(PAGES))
def test_every_page_has_the_navigation_the_account_menu_and_an_exact_query_count(
    client: Client, setup: dict[str, Any], url: str, django_assert_num_queries: Any
) -> None:
    active, expected = PAGES[url]
    with django_assert_num_queries(expected):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    nav = body.split('<nav class="dash-nav" aria-label="Dashboard">')[1].split("</nav>")[0]
    current = re.findall(r'<a href="[^"]+"[^>]*aria-current="page"[^>]*>([^<]+)', nav)
    assert [c.strip() for c in current] == [LABELS[active]]
    assert all(label in nav for label in LABELS.values())
    assert setup["provider"].business_name in body.split('class="dash-bar"')[1].split("</details>")[0]
    menu = body.split('<details class="account-menu">')[1].split("</details>")[0]
    assert "Sign out on every device" in menu
    assert ">Sign out</button>" in menu
    assert body.count("<h1") == 1


def test_a_reschedule_request_is_answered_in_place_in_the_side_panel(client: Client, setup: dict[str, Any]) -> None:
    first = setup["booked"][0]
    later = Slot.objects.filter(service=setup["service"], start__gt=first.start).order_by("start").last()
    request = reschedule_request(appointment=first, customer=first.customer, new_slot_id=later.pk)
    panel = client.get("/dashboard/panel", headers={"HX-Request": "true"}).content.decode()
    assert 'id="panel-requests"' in panel
    assert "c0@example.com" in panel
    answered = client.post(
        f"/dashboard/reschedules/{request.pk}/accept", {"where": "panel-requests"}, headers={"HX-Request": "true"}
    )
    body = answered.content.decode()
    assert answered.status_code == 200
    assert '<section class="card requests" id="panel-requests"' in body
    assert "Moved. The customer has been told." in body
    assert "No pending requests." in body
    first.refresh_from_db()
    assert first.start == later.start
    # Answering again says why not, in the same place (never a 500)
    again = client.post(
        f"/dashboard/reschedules/{request.pk}/decline", {"where": "panel-requests"}, headers={"HX-Request": "true"}
    )
    assert again.status_code == 200
    assert 'class="message error"' in again.content.decode()


def test_a_block_opens_in_the_side_panel_and_attendance_answers_there(
    client: Client, setup: dict[str, Any], frozen_now: Any
) -> None:
    first = setup["booked"][0]
    frozen_now.move_to("2026-11-30 08:10:00+00:00")  # 09:10 in Berlin: the 09:00 appointment has begun
    day = client.get("/dashboard?day=2026-11-30").content.decode()
    assert f'hx-get="/dashboard/appointments/{first.pk}" hx-target="#side-panel"' in day
    panel = client.get(f"/dashboard/appointments/{first.pk}", headers={"HX-Request": "true"}).content.decode()
    assert "Mark attended" in panel
    assert "c0@example.com" in panel
    marked = client.post(
        f"/dashboard/appointments/{first.pk}/attendance", {"attended": "1"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert marked.lstrip().startswith(f'<div id="facts-{first.pk}"')
    assert "Marked attended." in marked
    assert '<span class="badge status-completed">Attended</span>' in marked
    assert "Mark no-show" in marked  # still correctable
    # Without JavaScript the block's link is the appointment's page
    page = client.get(f"/dashboard/appointments/{first.pk}").content.decode()
    assert "Timeline" in page
    assert "Marked" not in page


def test_settings_save_the_profile_and_refuse_bad_input_at_the_field(client: Client, setup: dict[str, Any]) -> None:
    provider = setup["provider"]
    good = {
        "business_name": "Studio Renamed",
        "description": "",
        "timezone": "Europe/Lisbon",
        "phone": "+351 912 345 678",
        "address": "",
    }
    for field, value, message in [
        ("timezone", "Mars/Olympus", "Mars/Olympus"),
        ("timezone", "US/Eastern", "US/Eastern"),  # a deprecated alias, not a canonical name
        ("phone", "12", "international format"),
        ("business_name", "", "This field is required."),
    ]:
        refused = client.post("/dashboard/settings", {**good, field: value})
        body = refused.content.decode()
        assert refused.status_code == 400
        error = body.split(f'name="{field}"')[0].rsplit('<div class="field', 1)[1]
        assert message in error or message in body.split(f'name="{field}"')[1].split("</div>")[0]
        provider.refresh_from_db()
        assert provider.business_name != "Studio Renamed"
    saved = client.post("/dashboard/settings", good, follow=True).content.decode()
    assert "Saved. Your public page shows the new details." in saved
    provider.refresh_from_db()
    assert (provider.business_name, provider.timezone, provider.phone) == (
        "Studio Renamed",
        "Europe/Lisbon",
        "+351912345678",
    )
    assert "Studio Renamed" in client.get(f"/p/{provider.slug}/").content.decode()
    # The zone the browser reported is suggested beside the field when it differs
    client.post("/timezone", {"zone": "America/New_York", "detected": "1"})
    assert "Your browser says you are in America/New_York." in client.get("/dashboard/settings").content.decode()


def test_payouts_are_listed_for_their_provider_and_the_message_links_there(
    client: Client, setup: dict[str, Any]
) -> None:
    import uuid

    from notifications.models import Message
    from payments.services import payout_record
    from tests.factories import ProviderFactory

    provider = setup["provider"]
    payout_record(
        recipient=provider.user,
        amount_minor=125000,
        currency="EUR",
        reference="November 2026",
        idempotency_key=str(uuid.uuid4()),
    )
    other = ProviderFactory()
    payout_record(
        recipient=other.user, amount_minor=99900, currency="EUR", reference="Other", idempotency_key=str(uuid.uuid4())
    )
    page = client.get("/dashboard/payouts").content.decode()
    assert "<strong>€1,250.00</strong>" in page
    assert "November 2026" in page
    assert "€999.00" not in page
    told = Message.objects.get(recipient=provider.user, event="funds_transferred", channel="email")
    assert "/dashboard/payouts" in told.body
