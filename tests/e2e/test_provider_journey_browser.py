"""A new business from sign-up to its first customers, in a real browser at phone and desktop
widths: sign up → confirm the email → sign in with the emailed code → the wizard → the share
link → a customer (a second browser) books from the public page → the booking appears on the
provider's Today page without a reload → a reschedule request is accepted in the side panel,
in place → attendance is marked on a 15-minute block. Every page fits the screen and passes
axe; no console errors or CSP violations (the `open_page` fixture)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from bookings import availability
from bookings.models import Appointment, AppointmentStatus
from bookings.services import reschedule_request
from providers.models import Provider
from tests.e2e.conftest import pay_on_hosted_page
from tests.e2e.test_customer_journey_browser import Journey
from tests.factories import PASSWORD, UserFactory, category

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def last_mail_link(pattern: str) -> str:
    match = re.search(pattern, mail.outbox[-1].body)
    assert match is not None, mail.outbox[-1].body
    return match.group(0)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_new_business_signs_up_shares_its_page_and_runs_its_first_day(
    live_server: Any, open_page: Any, settings: Any, width: int
) -> None:
    settings.SITE_URL = live_server.url
    settings.DASHBOARD_POLL_SECONDS = 1
    base = live_server.url
    category()
    email = f"owner{width}@example.com"
    owner = open_page(width=width, height=900, timezone_id="Europe/Lisbon")
    journey = Journey(owner, width)

    # Sign up and confirm the email
    owner.goto(f"{base}/")
    if width <= 720:  # on a phone the header's links are in its menu
        owner.locator(".nav-menu summary").click()
        owner.locator(".nav-menu").get_by_role("link", name="For providers").click()
    else:
        owner.locator(".nav-wide").get_by_role("link", name="For providers").click()
    owner.wait_for_url(f"{base}/signup-provider")
    journey.check("signup")
    owner.get_by_label("Business name").fill("Barbearia Alfama")
    owner.get_by_label("Email").fill(email)
    owner.get_by_label("Password", exact=True).fill("a-long-and-unusual-pw")
    owner.get_by_label("Password (again)").fill("a-long-and-unusual-pw")
    owner.get_by_role("button", name=re.compile("Sign up|Create", re.I)).click()
    owner.get_by_text(email).first.wait_for()
    journey.check("signup-sent")
    link = last_mail_link(r"https?://\S+/signup-provider/verify/\S+")
    owner.goto(base + link[link.index("/signup-provider/") :])
    owner.wait_for_url(re.compile(r".*/login-provider.*"))
    journey.check("signed-up-login")

    # Sign in with the password and the emailed code
    owner.get_by_label("Email").fill(email)
    owner.get_by_label("Password").fill("a-long-and-unusual-pw")
    owner.get_by_role("button", name="Continue").click()
    owner.wait_for_url(re.compile(r".*/auth/[\w-]+$"))
    code = last_mail_link(r"(?<=sign-in code is: )\d{6}")
    owner.get_by_label("Sign-in code").fill(code)
    owner.get_by_role("button", name="Sign in").click()

    # The wizard: the business (name prefilled), hours, a first service
    owner.wait_for_url(re.compile(r".*/onboarding/profile/$"))
    journey.check("wizard-profile")
    assert owner.get_by_label("Business name").input_value() == "Barbearia Alfama"
    owner.get_by_label("Timezone").fill("Europe/Lisbon")
    owner.get_by_label("Phone").fill("+351 912 345 678")
    owner.get_by_label("Address").fill("Rua dos Remédios 1, Lisboa")
    owner.get_by_role("button", name="Save and continue").click()
    owner.wait_for_url(re.compile(r".*/onboarding/hours/$"))
    journey.check("wizard-hours")
    # Open around the clock: Monday 00:00-23:59, then "Copy Monday to…" every other day
    owner.get_by_label("Monday, interval 1: opens").fill("00:00")
    owner.get_by_label("Monday, interval 1: closes").fill("23:59")
    monday = owner.get_by_role("group", name="Monday")
    monday.get_by_text("Copy Monday to…").click()
    for weekday in ("Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        monday.get_by_label(weekday).check()
    monday.get_by_role("button", name="Copy").click()
    owner.get_by_label("Sunday, interval 1: closes").wait_for()
    assert owner.get_by_label("Sunday, interval 1: closes").input_value() == "23:59"
    assert not owner.get_by_role("group", name="Sunday").get_by_label("Closed").is_checked()
    owner.get_by_role("button", name="Save and continue").last.click()
    owner.wait_for_url(re.compile(r".*/onboarding/service/$"))
    journey.check("wizard-service")
    owner.get_by_label("Name").fill("Quick trim")
    owner.get_by_label("Category").select_option(index=1)
    owner.get_by_label("Price").fill("20.00")
    owner.get_by_label("Duration (minutes)").fill("15")
    owner.get_by_label("Most appointments per day").fill("40")
    owner.get_by_label("Minimum notice (minutes)").fill("0")
    owner.get_by_role("button", name=re.compile("Publish|Save", re.I)).click()
    owner.wait_for_url(re.compile(r".*/dashboard$"))
    provider = Provider.objects.get(user__email=email)
    share = f"{base}/p/{provider.slug}/"
    assert share in owner.locator(".messages").inner_text()  # the link to share

    # The provider keeps the day of the first free time open (a reload would lose this mark)
    service = provider.services.get()
    # (five minutes ahead at least: the very first free time may start while the customer types)
    soon = timezone.now() + timedelta(minutes=5)
    first = availability.offers(service).filter(start__gt=soon).order_by("start").first()
    day = first.start.astimezone(ZoneInfo("Europe/Lisbon")).date()
    owner.goto(f"{base}/dashboard?day={day.isoformat()}")
    journey.check("today-empty")
    owner.evaluate("window.stillTheSamePage = true")

    # A customer, in another browser, books from the shared page
    customer = UserFactory(email=f"casey{width}@example.com")
    shopper = open_page(width=width, height=900, timezone_id="Europe/Lisbon")
    shopper.goto(f"{base}/accounts/login/")
    shopper.get_by_label("Email").fill(customer.email)
    shopper.get_by_label("Password").fill(PASSWORD)
    shopper.get_by_role("button", name="Sign In").click()
    shopper.goto(share)
    shopper.get_by_role("link", name=re.compile("Book")).first.click()
    shopper.wait_for_url(re.compile(r".*/services/.*"))
    shopper.goto(f"{base}/services/{service.slug}/?day={day.isoformat()}")
    shopper.locator(f'a.slot[href^="/book/{first.pk}/"]').click()
    shopper.get_by_role("button", name=re.compile("Hold this time")).click()
    shopper.wait_for_url(re.compile(r".*/pay/$"))
    pay_on_hosted_page(shopper)
    booked = Appointment.objects.get(customer=customer)
    assert booked.status == AppointmentStatus.CONFIRMED

    # It appears on the provider's open page through the poll, without a reload
    owner.locator("#day .timegrid-items").get_by_text(customer.email).wait_for(timeout=10_000)
    assert owner.evaluate("window.stillTheSamePage") is True
    journey.check("today-live")

    # The customer asks for another time; the provider accepts it in the side panel, in place
    later = availability.offers(service, ignoring=booked).filter(start__gt=booked.end).order_by("start")[3]
    reschedule_request(appointment=booked, customer=customer, new_slot_id=later.pk)
    owner.locator(".dash-nav").get_by_role("link", name=re.compile("^Messages")).click()
    panel = owner.locator("#side-panel")
    panel.get_by_role("button", name="Accept").click()
    panel.get_by_text("Moved. The customer has been told.").wait_for()
    assert owner.evaluate("window.stillTheSamePage") is True
    assert Appointment.objects.get(pk=booked.pk).start == later.start
    owner.keyboard.press("Escape")

    # The customer arrives: on the 15-minute block, attendance is marked from the panel
    now = timezone.now()
    Appointment.objects.filter(pk=booked.pk).update(start=now - timedelta(minutes=3), end=now + timedelta(minutes=12))
    owner.goto(f"{base}/dashboard?day={timezone.localdate(now, ZoneInfo('Europe/Lisbon')).isoformat()}")
    link = owner.locator(f'a.tg-open[href="/dashboard/appointments/{booked.pk}"]')
    block = owner.locator("#day .timegrid-items > li").filter(has=link)
    # The whole block opens it (a click low in the block, below the link's line of text, too);
    # on a phone the block may be below the fold at some times of day: bring it into view first
    block.scroll_into_view_if_needed()
    box = block.bounding_box()
    owner.mouse.click(box["x"] + box["width"] - 10, box["y"] + box["height"] - 4)
    panel.get_by_role("button", name="Mark attended").click()
    panel.get_by_text("Marked attended.").wait_for()
    journey.check("attended")
    assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.COMPLETED
