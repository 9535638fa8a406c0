"""The whole customer journey in chromium at a phone's and a desktop's width: browse → service →
a time → sign up (the verification link read from the captured email) → back to the time → a
declined card → pay → success → account → reschedule → withdraw → cancel with the refund shown
first. On every page: no sideways scroll, every control a finger must hit at least 44 px,
axe-core (from the copy axe-playwright-python bundles, evaluated through the DevTools protocol,
so the Content-Security-Policy stays on) finds no serious or critical violation, and a
screenshot goes to var/e2e/. The browser runs in Lisbon, the provider in Berlin: pages show
both zones."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from bookings.models import Appointment, AppointmentStatus
from providers.services import provider_hours_set, provider_today
from tests.e2e.conftest import pay_on_hosted_page
from tests.e2e.error_urls import FAILING_PATH
from tests.factories import ProviderFactory, ServiceFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
SHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e"
RUN_AXE = """() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
  .filter(v => v.impact === "serious" || v.impact === "critical")
  .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`))"""


# Controls a finger must hit (text links inside sentences are exempt, as WCAG 2.5.8 allows).
SMALL_TARGETS = """() => [...document.querySelectorAll(
  'button, .button, a.slot, a.day, summary, select, label.choice, label.check-label,'
  + ' input:not([type=hidden]):not([type=checkbox]):not([type=radio])')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.height < 44 && !e.closest('.link-inline'))
  .map(([e, r]) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
    + ` "${(e.innerText || e.name || '').trim().slice(0, 30)}" ${Math.round(r.height)}px`)"""


class Journey:
    def __init__(self, page: Any, width: int) -> None:
        self.page, self.width, self.step = page, width, 0

    def check(self, name: str) -> None:
        """The page as it stands: fits the screen, passes axe, screenshot saved."""
        page = self.page
        page.wait_for_load_state("load")
        self.step += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / f"{self.width}-{self.step:02d}-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        # Without it a phone lays the page out 980 px wide and shrinks it (desktop chromium doesn't)
        assert page.locator('meta[name="viewport"]').count() == 1, f"{name}: no viewport meta"
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= page.evaluate("window.innerWidth"), f"{name} at {self.width}px is {wide}px wide: {shot}"
        small = page.evaluate(SMALL_TARGETS)
        assert small == [], f"{name} at {self.width}px: tap targets under 44 px: {small} ({shot})"
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE)
        violations = page.evaluate(RUN_AXE)
        assert violations == [], f"{name} at {self.width}px: {violations} ({shot})"


def sign_in(page: Any, login_url: str, email: str) -> None:
    """A customer signs in with the factories' password on the login page."""
    from tests.factories import PASSWORD

    page.goto(login_url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


@pytest.fixture
def studio(live_server: Any) -> Any:
    provider = ProviderFactory(timezone="Europe/Berlin", hours=[], business_name="Kreuzberg Physio")
    provider_hours_set(provider=provider, weekly=[(d, time(0, 0), time(23, 59)) for d in range(7)], exceptions=[])
    return ServiceFactory(provider=provider, name="Physio session", price_minor=9000, max_appointments_per_day=40)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_whole_customer_journey(live_server: Any, open_page: Any, studio: Any, width: int) -> None:
    base = live_server.url
    page = open_page(width=width, height=900, timezone_id="Europe/Lisbon", locale="en-GB")
    journey = Journey(page, width)
    email = f"casey{width}@example.com"

    page.goto(f"{base}/")
    journey.check("home")
    page.goto(f"{base}/?q=physio")
    journey.check("search")
    page.get_by_role("link", name="See free times").first.click()
    page.wait_for_url(re.compile(r".*/services/.*"))
    journey.check("service")
    tomorrow = (provider_today(studio.provider, timezone.now()) + timedelta(days=1)).isoformat()
    page.goto(f"{base}/services/{studio.slug}/?day={tomorrow}")
    assert "in Berlin" in page.locator("#availability").inner_text()  # the browser's zone was told

    page.locator("a.slot").nth(2).click()
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    journey.check("login")
    page.goto(f"{base}/accounts/signup/")
    journey.check("signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label(re.compile(r"^Password:?$")).fill("a-long-and-unusual-pw")
    page.get_by_label(re.compile(r"^Password \(again\)")).fill("a-long-and-unusual-pw")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/.*"))
    journey.check("verify-sent")
    link = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+", mail.outbox[-1].body).group(0)
    page.goto(base + link[link.index("/accounts/") :])
    journey.check("verify-confirm")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r".*/book/.*"))
    journey.check("confirm")
    assert User.objects.get(email=email).timezone == "Europe/Lisbon"

    page.get_by_role("button", name=re.compile("Hold this time")).click()
    page.wait_for_url(re.compile(r".*/pay/$"))
    journey.check("pay")
    # The gateway's hosted page (the sandbox's, under our CSP): declined first, it stays open
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_url(re.compile(r".*/sandbox/checkout/.*"))
    journey.check("hosted-page")
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.get_by_text("Your card was declined.").wait_for()
    journey.check("payment-declined")
    # Back to our pay page without paying, then Pay again: the same hosted page, paid this time
    page.get_by_role("link", name="Cancel and go back").click()
    page.get_by_text("You came back without paying").wait_for()
    pay_on_hosted_page(page, on_confirming=lambda: journey.check("confirming"))
    journey.check("success")
    appointment = Appointment.objects.get(customer__email=email)
    assert appointment.status == AppointmentStatus.CONFIRMED

    page.goto(f"{base}/account/")
    journey.check("account")
    page.get_by_role("link", name="Receipt").click()
    page.get_by_role("heading", name="Receipt").wait_for()
    journey.check("receipt")
    assert "paid online (reference pi_sandbox_" in page.locator("main").inner_text()
    page.goto(f"{base}/account/")
    page.get_by_role("link", name="Reschedule").click()
    journey.check("reschedule")
    page.locator("input[name=slot]").first.check()
    page.get_by_role("button", name="Send request").click()
    page.wait_for_load_state("load")
    journey.check("reschedule-sent")
    page.goto(f"{base}/account/")
    page.get_by_role("button", name="Withdraw the request").click()
    page.wait_for_load_state("load")
    page.goto(f"{base}/account/")
    journey.check("account-withdrawn")
    page.get_by_role("link", name="Cancel…").click()
    journey.check("cancel")
    assert "€90.00" in page.content()
    page.get_by_role("button", name=re.compile("Cancel and refund")).click()
    page.wait_for_load_state("load")
    journey.check("cancelled")
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.CANCELLED


@pytest.mark.parametrize("width", [390, 1280])
def test_a_service_paid_at_the_venue_books_in_one_step(
    live_server: Any, open_page: Any, studio: Any, width: int
) -> None:
    from providers.models import PaymentMode, Service, Slot
    from tests.factories import UserFactory

    Service.objects.filter(pk=studio.pk).update(payment_mode=PaymentMode.VENUE)
    customer = UserFactory(email=f"venue{width}@example.com")
    base = live_server.url
    page = open_page(width=width, height=900)
    journey = Journey(page, width)
    sign_in(page, f"{base}/accounts/login/", customer.email)
    slot = Slot.objects.filter(service=studio, start__gt=timezone.now() + timedelta(days=1)).order_by("start").first()
    page.goto(f"{base}/book/{slot.pk}/")
    journey.check("venue-confirm")
    assert "paid at the venue" in page.locator("main").inner_text()
    page.get_by_role("button", name="Book this time").click()
    page.wait_for_url(re.compile(r".*booked=1.*"))
    journey.check("venue-booked")
    assert "to pay at the venue" in page.locator("main").inner_text()
    assert Appointment.objects.get(customer=customer).status == AppointmentStatus.CONFIRMED


@pytest.mark.smoke
@pytest.mark.parametrize("width", [360, 768])
def test_public_pages_fit_phones_and_tablets(
    live_server: Any, open_page: Any, studio: Any, width: int, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.e2e.error_urls"  # the project's URLs and one view that fails
    base = live_server.url
    page = open_page(width=width, height=800)
    journey = Journey(page, width)
    for name, path in [
        ("home", "/"),
        ("service", f"/services/{studio.slug}/"),
        ("provider-page", f"/p/{studio.provider.slug}/"),
        ("login", "/accounts/login/"),
        ("signup", "/accounts/signup/"),
        ("password-reset", "/accounts/password/reset/"),
        ("provider-login", "/login-provider"),
        ("provider-signup", "/signup-provider"),
        ("timezone", "/timezone"),
        ("not-found", "/no-such-page/"),
        ("server-error", FAILING_PATH),
    ]:
        page.goto(base + path)
        journey.check(name)
    assert page.get_by_role("heading", name="Something went wrong on our side").is_visible()
    assert page.get_by_role("link", name="Appointly").is_visible()  # the wordmark, even on the 500 page


@pytest.mark.smoke
@pytest.mark.parametrize("width", [390, 1280])
def test_appointments_page_through_twenty_at_a_time(live_server: Any, open_page: Any, studio: Any, width: int) -> None:
    from tests.bookings.test_account_page import _history
    from tests.factories import UserFactory

    # Given a customer with 45 past appointments and 25 upcoming ones
    customer = UserFactory(email=f"regular{width}@example.com")
    _history(customer, studio, 45)
    _history(customer, studio, 25, upcoming=True)
    base = live_server.url
    page = open_page(width=width, height=900)
    journey = Journey(page, width)
    sign_in(page, f"{base}/accounts/login/?next=/account/", customer.email)
    page.wait_for_url(re.compile(r".*/account/$"))
    # When they page through the upcoming ones (the page opens on them), then the past ones
    journey.check("account-page-1")
    cards = page.locator(".appointment-list .appointment-card")
    assert cards.count() == 20
    later = page.get_by_role("link", name="Later →")
    assert later.bounding_box()["height"] >= 44  # a thumb's tap target
    later.click()
    page.wait_for_url(re.compile(r".*\?page=2#appointments$"))
    journey.check("account-upcoming-page-2")
    assert cards.count() == 5
    assert page.get_by_role("link", name="Later →").count() == 0
    past_tab = page.get_by_role("link", name="Past and cancelled")
    assert past_tab.bounding_box()["height"] >= 44
    past_tab.click()
    page.wait_for_url(re.compile(r".*\?show=past#appointments$"))
    assert page.get_by_role("link", name="Past and cancelled").get_attribute("aria-current") == "page"
    assert cards.count() == 20
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r".*show=past&page=2.*"))
    journey.check("account-page-2")
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r".*show=past&page=3.*"))
    # Then the last page holds the 5 oldest, Newer leads back, and Upcoming to the first list
    assert cards.count() == 5
    assert page.get_by_role("link", name="Older →").count() == 0
    page.get_by_role("link", name="← Newer").click()
    page.wait_for_url(re.compile(r".*show=past&page=2.*"))
    assert cards.count() == 20
    page.get_by_role("link", name="Upcoming", exact=True).click()
    page.wait_for_url(re.compile(r".*/account/#appointments$"))
    assert cards.count() == 20
    assert page.get_by_role("link", name="Book again").count() == 0
