"""Every dashboard page in a real browser at phone and desktop widths: no sideways scrolling,
44 px targets, axe clean, no console errors or CSP violations; the side panel opens from the
navigation, a reschedule request is accepted in it and the row changes in place; a 15-minute
block opens its actions in the panel and attendance is marked there."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from bookings import availability
from bookings.models import Appointment, AppointmentStatus
from bookings.services import reschedule_request
from providers.services import provider_hours_set
from tests.e2e.test_customer_journey_browser import Journey
from tests.e2e.test_dashboard_browser import sign_in_provider
from tests.factories import ProviderFactory, ProviderUserFactory, ServiceFactory, UserFactory, book_confirmed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("today", "/dashboard"),
    ("calendar", "/dashboard?view=week"),
    ("appointments", "/dashboard/appointments"),
    ("services", "/dashboard/services"),
    ("hours", "/dashboard/hours"),
    ("qr", "/dashboard/qr"),
    ("earnings", "/dashboard/earnings"),
    ("payouts", "/dashboard/payouts"),
    ("messages", "/dashboard/messages"),
    ("settings", "/dashboard/settings"),
]


@pytest.fixture
def shop(live_server: Any, settings: Any) -> dict[str, Any]:
    """A provider open around the clock with a 15-minute service; a customer's appointment that
    began 5 minutes ago (attendance open) and another with a pending reschedule request."""
    settings.SITE_URL = live_server.url
    provider = ProviderFactory(
        user=ProviderUserFactory(email="studio@example.com"), timezone="Europe/Lisbon", hours=[], address="Rua Augusta"
    )
    provider_hours_set(provider=provider, weekly=[(d, time(0, 0), time(23, 59)) for d in range(7)], exceptions=[])
    service = ServiceFactory(provider=provider, name="Express check", duration_minutes=15, max_appointments_per_day=90)
    customer = UserFactory(email="casey@example.com")
    free = list(availability.offers(service).filter(start__gt=timezone.now()).order_by("start")[:12])
    started = book_confirmed(customer, free[0])
    Appointment.objects.filter(pk=started.pk).update(
        start=timezone.now() - timedelta(minutes=5), end=timezone.now() + timedelta(minutes=10)
    )
    moving = book_confirmed(customer, free[2])
    request = reschedule_request(appointment=moving, customer=customer, new_slot_id=free[10].pk)
    return {"started": started, "moving": moving, "request": request, "to": free[10], "base": live_server.url}


@pytest.mark.parametrize("width", [390, 1280])
def test_every_dashboard_page_fits_and_the_side_panel_answers_in_place(
    shop: dict[str, Any], open_page: Any, width: int
) -> None:
    base = shop["base"]
    page = open_page(width=width, height=900)
    sign_in_provider(page, base, "studio@example.com")
    journey = Journey(page, width)
    for name, path in [
        *PAGES,
        ("new-booking", "/dashboard/appointments/new"),
        ("new-service", "/dashboard/services/new"),
        ("walk-in", f"/dashboard/appointments/new/{shop['moving'].service_id}"),
        ("move", f"/dashboard/appointments/{shop['moving'].pk}/move"),
    ]:
        page.goto(base + path)
        journey.check(f"dashboard-{name}")
        if name == "calendar":  # seven readable days, all inside the calendar's card
            card = page.locator("#day").bounding_box()
            days = [page.locator("#day .week-day").nth(i).bounding_box() for i in range(7)]
            assert all(d["x"] + d["width"] <= card["x"] + card["width"] for d in days)
            if width >= 1280:
                assert min(d["width"] for d in days) >= 110

    # Messages in the navigation opens the side panel in place (no navigation)
    page.goto(f"{base}/dashboard/services")
    page.evaluate("window.stillTheSamePage = true")
    page.locator(".dash-nav").get_by_role("link", name=re.compile("^Messages")).click()
    panel = page.locator("#side-panel")
    panel.get_by_role("heading", name="Reschedule requests").wait_for()
    journey.check("side-panel")
    panel.get_by_role("button", name="Accept").click()
    panel.get_by_text("Moved. The customer has been told.").wait_for()
    assert panel.get_by_text("No pending requests.").is_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    assert Appointment.objects.get(pk=shop["moving"].pk).start == shop["to"].start
    page.keyboard.press("Escape")
    assert panel.is_hidden()

    # A 15-minute block on today's grid opens its actions in the panel; attendance is marked there
    page.goto(f"{base}/dashboard")
    page.locator(f'#day a.tg-open[href="/dashboard/appointments/{shop["started"].pk}"]').click()
    panel.get_by_role("button", name="Mark attended").click()
    panel.get_by_text("Marked attended.").wait_for()
    assert Appointment.objects.get(pk=shop["started"].pk).status == AppointmentStatus.COMPLETED
    journey.check("side-panel-attended")
    panel.get_by_role("button", name="Close").click()
    assert panel.is_hidden()
