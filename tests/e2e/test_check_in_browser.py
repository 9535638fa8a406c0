"""QR check-in in a real browser: the provider downloads the PNG, a real QR decoder reads it, a
customer on a phone opens the decoded URL, logs in, checks in, and the check-in appears on the
provider's day view without a reload. The print sheets are one page each and their code decodes
from a rendered screenshot."""

from __future__ import annotations

import io
import re
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image

from bookings import availability
from bookings.models import Appointment, AppointmentStatus
from providers.services import provider_hours_set
from tests.e2e.test_dashboard_browser import sign_in_provider
from tests.factories import PASSWORD, ProviderFactory, ProviderUserFactory, ServiceFactory, UserFactory, book_confirmed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def fits_the_screen(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.fixture
def desk(live_server: Any, settings: Any) -> dict[str, Any]:
    """A provider open around the clock with a 15-minute service, and a customer whose next
    appointment there starts within 15 minutes (so its check-in window is open now)."""
    settings.SITE_URL = live_server.url
    settings.DASHBOARD_POLL_SECONDS = 1
    provider = ProviderFactory(
        user=ProviderUserFactory(email="desk@example.com"), timezone="Europe/Lisbon", hours=[], address="Rossio 1"
    )
    provider_hours_set(provider=provider, weekly=[(d, time(0, 0), time(23, 59)) for d in range(7)], exceptions=[])
    service = ServiceFactory(
        provider=provider, name="Quick consultation", duration_minutes=15, max_appointments_per_day=90
    )
    customer = UserFactory(email="casey@example.com")
    offer = availability.offers(service).filter(start__gt=timezone.now()).order_by("start").first()
    appointment = book_confirmed(customer, offer)
    return {"provider": provider, "appointment": appointment, "base": live_server.url}


def test_download_decode_scan_check_in_and_the_dashboard_shows_it_live(desk: dict[str, Any], open_page: Any) -> None:
    base = desk["base"]
    provider_page = open_page()
    sign_in_provider(provider_page, base, "desk@example.com")
    # The provider downloads the PNG from the QR page; a real decoder reads it
    provider_page.goto(f"{base}/dashboard/qr")
    with provider_page.expect_download() as download:
        provider_page.get_by_role("link", name="Download PNG").click()
    assert download.value.suggested_filename == f"check-in-{desk['provider'].slug}.png"
    [url] = decode(Path(download.value.path()).read_bytes())
    assert re.fullmatch(rf"{re.escape(base)}/mark\?id=[A-Za-z0-9_-]{{32}}", url)
    # The provider keeps the appointment's day open (marked, so a reload would show). Near
    # midnight the next free time is tomorrow's, so the day is the appointment's, not "today".
    day = desk["appointment"].start.astimezone(ZoneInfo(desk["provider"].timezone)).date()
    provider_page.goto(f"{base}/dashboard?day={day.isoformat()}")
    provider_page.evaluate("window.stillTheSamePage = true")
    assert "checked in" not in provider_page.locator("#day").inner_text()

    # The customer's phone opens the decoded URL, logs in, comes back, checks in
    phone = open_page(**PHONE)
    phone.goto(url)
    phone.get_by_role("link", name="Log in to check in").click()
    phone.get_by_label("Email").fill("casey@example.com")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign In").click()
    phone.wait_for_url(url)
    assert fits_the_screen(phone)
    check_in = phone.get_by_role("button", name="Check in")
    assert check_in.bounding_box()["height"] >= 44
    check_in.click()
    phone.get_by_text("You're checked in").wait_for()
    assert "Quick consultation" in phone.content()
    assert fits_the_screen(phone)
    assert Appointment.objects.get(pk=desk["appointment"].pk).status == AppointmentStatus.COMPLETED

    # ... and the provider's day view shows it without a reload, through the poll
    provider_page.locator("#day").get_by_text(re.compile(r"checked in \d\d:\d\d")).wait_for(timeout=10_000)
    assert provider_page.locator("#day .live-changes").get_by_text("Checked in (QR code)").count() == 1
    assert provider_page.evaluate("window.stillTheSamePage") is True


def test_the_a4_poster_is_one_page_and_its_code_decodes_from_a_screenshot(desk: dict[str, Any], open_page: Any) -> None:
    base = desk["base"]
    page = open_page()
    sign_in_provider(page, base, "desk@example.com")
    expected = f"{base}/mark?id={desk['provider'].qr_token}"
    for size, fmt in (("a4", "A4"), ("a6", "A6")):
        page.goto(f"{base}/dashboard/qr/print?size={size}")
        page.emulate_media(media="print")
        pdf = page.pdf(format=fmt, print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))
        assert pages == 1, f"{fmt} sheet prints on {pages} pages"
        assert decode(page.screenshot(full_page=True)) == [expected]
        page.emulate_media(media="screen")
    # On a phone the dashboard (day and week), the sheets, the QR page and the replace
    # confirmation fit the screen
    phone = open_page(**PHONE)
    sign_in_provider(phone, base, "desk@example.com")
    for path in (
        "/dashboard",
        "/dashboard?view=week",
        "/dashboard/qr",
        "/dashboard/qr/print?size=a4",
        "/dashboard/qr/print?size=a6",
        "/dashboard/qr/rotate",
    ):
        phone.goto(f"{base}{path}")
        assert fits_the_screen(phone), path
