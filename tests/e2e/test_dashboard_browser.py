"""The provider's day in a real browser: OTP sign-in, today's appointments, bulk cancel of two,
accepting a reschedule; then the customer's account shows the refunds and the moved time."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import pytest
from django.core import mail

from bookings.models import Appointment, AppointmentStatus
from bookings.services import reschedule_request
from providers.models import Slot
from providers.services import provider_hours_set
from tests.factories import PASSWORD, ProviderFactory, ProviderUserFactory, ServiceFactory, UserFactory, book_confirmed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in_provider(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login-provider")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r".*/auth/[\w-]+$"))
    code = re.search(r"sign-in code is: (\d{6})", mail.outbox[-1].body).group(1)
    page.get_by_label("Sign-in code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/dashboard")


def test_provider_day_bulk_cancel_and_reschedule_then_customer_sees_it(live_server: Any, browser: Any) -> None:
    provider = ProviderFactory(user=ProviderUserFactory(email="barber@example.com"), timezone="UTC", hours=[])
    provider_hours_set(provider=provider, weekly=[(d, time(0, 0), time(23, 59)) for d in range(7)], exceptions=[])
    service = ServiceFactory(provider=provider, name="Skin fade", price_minor=4000, max_appointments_per_day=40)
    customer = UserFactory(email="casey@example.com")
    # Today's slots (UTC), or tomorrow's when the day is nearly over.
    first_day = Slot.objects.filter(service=service).order_by("start").first().slot_date
    slots = list(Slot.objects.filter(service=service, slot_date=first_day).order_by("start")[:8])
    if len(slots) < 8:
        slots = list(Slot.objects.filter(service=service, slot_date__gt=first_day).order_by("start")[:8])
    booked = [book_confirmed(customer, s) for s in slots[:4]]
    day = booked[0].start.date()
    request = reschedule_request(appointment=booked[3], customer=customer, new_slot_id=slots[7].pk)

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in_provider(page, live_server.url, "barber@example.com")
    # The week view (HTMX swap, URL pushed), then back to the day on its time grid
    page.goto(f"{live_server.url}/dashboard?day={day.isoformat()}")
    page.locator("#day").get_by_role("link", name="Week", exact=True).click()
    page.wait_for_url(re.compile(r".*view=week.*"))
    assert page.locator("#day .week-day input[name=ids]").count() == 4
    page.locator("#day").get_by_role("link", name="Day", exact=True).click()
    page.wait_for_url(re.compile(r".*view=day.*"))
    grid = page.locator("#day .timegrid-items > li")
    assert grid.count() == 4
    assert "casey@example.com" in page.locator("#day").inner_text()
    # Placed by time: each later appointment sits lower on the grid
    tops = [grid.nth(i).bounding_box()["y"] for i in range(4)]
    assert tops == sorted(tops)
    assert tops[0] < tops[3]
    # Bulk cancel the first two: tick them on the grid, then confirm
    page.locator(f"#day input[name=ids][value='{booked[0].pk}']").check()
    page.locator(f"#day input[name=ids][value='{booked[1].pk}']").check()
    page.get_by_role("button", name="Cancel the selected appointments…").click()
    page.get_by_role("heading", name="Cancel 2 appointments?").wait_for()
    assert "Refunds in total: €80.00" in page.locator("main").inner_text()
    page.get_by_label("Reason, sent to the customers (optional)").fill("Closed for a family event")
    page.get_by_role("button", name="Cancel 2 and refund in full").click()
    page.wait_for_load_state()
    assert page.locator("td", has_text=re.compile(r"^cancelled$")).count() == 2
    assert errors == []
    # Accept the reschedule request in place
    page.goto(f"{live_server.url}/dashboard")
    page.get_by_role("button", name="Accept").click()
    page.locator("#requests").get_by_text("Moved. The customer has been told.").wait_for()
    context.close()

    moved = Appointment.objects.get(pk=booked[3].pk)
    assert moved.start == slots[7].start
    assert Appointment.objects.filter(status=AppointmentStatus.CANCELLED).count() == 2
    assert request.pk

    # The customer's account page
    customer_context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = customer_context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("casey@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server.url}/account/")
    assert slots[7].start.strftime("%H:%M") in page.locator(".appointment-list").inner_text()
    page.get_by_role("link", name="Past and cancelled").click()
    page.wait_for_url(re.compile(r".*show=past.*"))
    assert page.content().count("refund €40.00 · refunded") == 2
    customer_context.close()
