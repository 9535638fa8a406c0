"""The onboarding wizard and the single guard in front of provider pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import Role
from providers.models import HoursException, OnboardingStep, Provider, Service, Slot, WeeklyInterval
from tests.factories import ProviderFactory, ProviderUserFactory, ServiceFactory, UserFactory, category, hours_post

pytestmark = pytest.mark.django_db

PROFILE = {
    "business_name": "Kiez Barber",
    "description": "Cuts in Kreuzberg.",
    "timezone": "Europe/Berlin",
    "phone": "+49 151 12345678",
    "address": "Oranienstraße 10, Berlin",
}
HOURS = hours_post(
    {0: "09:00-12:00, 13:00-17:00", 1: "09:00-12:00, 13:00-17:00", 3: "10:00-18:00", 4: "09:00-12:00"},
    ("2026-12-24 09:00-11:00", "2026-12-25 closed"),
)
SERVICE = {
    "name": "Skin fade",
    "category": "",  # filled in per test
    "description": "Clippers and scissors.",
    "duration_minutes": "30",
    "price": "25.50",
    "currency": "EUR",
    "payment_mode": "online",
    "max_appointments_per_day": "8",
    "buffer_before_minutes": "0",
    "buffer_after_minutes": "0",
    "min_notice_minutes": "60",
    "booking_window_days": "30",
    "refund_full_hours": "24",
    "refund_partial_hours": "2",
    "refund_partial_percent": "50",
    "location": "",
}


@pytest.fixture
def new_provider(client: Client) -> Any:
    user = ProviderUserFactory()
    client.force_login(user)
    return user


def service_data(**overrides: str) -> dict[str, str]:
    return {**SERVICE, "category": str(category().pk), **overrides}


def test_whole_wizard_publishes_a_bookable_service(client: Client, new_provider: Any, frozen_now: object) -> None:
    # Step 0: /onboarding/ and any provider page send a new provider to step 1
    assert client.get("/onboarding/").url == "/onboarding/profile/"
    assert client.get("/dashboard").url == "/onboarding/"
    # Step 1: profile
    response = client.post("/onboarding/profile/", PROFILE)
    assert response.status_code == 302
    assert response.url == "/onboarding/hours/"
    provider = Provider.objects.get(user=new_provider)
    assert provider.phone == "+4915112345678"  # stored as E.164
    assert provider.slug == "kiez-barber"
    # Step 2: hours with a lunch break, special hours and a closed day
    response = client.post("/onboarding/hours/", HOURS)
    assert response.status_code == 302
    assert response.url == "/onboarding/service/"
    assert WeeklyInterval.objects.filter(provider=provider).count() == 6
    assert HoursException.objects.filter(provider=provider).count() == 2
    # Step 3: first service
    response = client.post("/onboarding/service/", service_data())
    assert response.status_code == 302
    assert response.url == "/dashboard"
    service = Service.objects.get(provider=provider)
    assert service.price_minor == 2550
    assert Slot.objects.filter(service=service).count() > 0
    assert not Slot.objects.filter(service=service, slot_date="2026-12-25").exists()
    assert Slot.objects.filter(service=service, slot_date="2026-12-24").count() == 4
    # The dashboard now opens, and the service is public
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Skin fade" in dashboard.content.decode()
    assert client.get(f"/services/{service.slug}/").status_code == 200


def test_each_step_page_renders_its_form(client: Client, new_provider: Any, frozen_now: object) -> None:
    # Every step opened with GET shows its form with labelled inputs (no 500 on an empty form)
    page = client.get("/onboarding/profile/")
    assert page.status_code == 200
    assert '<label for="id_timezone">' in page.content.decode()
    client.post("/onboarding/profile/", PROFILE)
    page = client.get("/onboarding/hours/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "<legend>Monday</legend>" in body
    # A new business starts from a usual week: Monday to Friday 09:00-17:00, the weekend closed
    assert '<input type="time" name="d0_s0" value="09:00"' in body
    assert '<input type="time" name="d4_e0" value="17:00"' in body
    assert re.search(r'<input type="checkbox" name="d5_closed"[^>]* checked', body)
    client.post("/onboarding/hours/", HOURS)
    page = client.get("/onboarding/service/")
    body = page.content.decode()
    assert page.status_code == 200
    assert '<label for="id_price">Price:</label>' in body
    assert 'aria-current="step"' in body


def test_leaving_at_step_two_resumes_at_step_two(client: Client, new_provider: Any) -> None:
    # Given a provider who finished the profile and left
    client.post("/onboarding/profile/", PROFILE)
    client.logout()
    # When they come back another day (a new session)
    client.force_login(new_provider)
    # Then the wizard continues at business hours, with the profile kept
    assert client.get("/onboarding/").url == "/onboarding/hours/"
    assert client.get("/dashboard").url == "/onboarding/"
    profile_page = client.get("/onboarding/profile/").content.decode()
    assert 'value="Kiez Barber"' in profile_page
    # And step 3 cannot be skipped to
    assert client.get("/onboarding/service/").url == "/onboarding/"


def test_anonymous_and_customers_are_kept_out(client: Client) -> None:
    for url in ("/dashboard", "/onboarding/", "/onboarding/hours/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/login-provider?next=")
    client.force_login(UserFactory())
    for url in ("/dashboard", "/onboarding/", "/onboarding/profile/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "This page is for providers" in response.content.decode()
    # A customer posting the profile form creates nothing
    client.post("/onboarding/profile/", PROFILE)
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus_Mons", "Choose a time zone from the list"),
        ("timezone", "US/Eastern", "Choose a time zone from the list"),
        ("phone", "0151 1234", "international format"),
        ("phone", "+49 123", "not valid"),
        ("phone", "+49 1", "not a phone number"),
        ("phone", "+abc", "not a phone number"),
        ("business_name", "", "This field is required"),
    ],
)
def test_profile_rejects_bad_input_next_to_the_field(
    client: Client, new_provider: Any, field: str, value: str, message: str
) -> None:
    response = client.post("/onboarding/profile/", {**PROFILE, field: value})
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert message.split()[0] in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"d0_s0": "12:00", "d0_e0": "09:00"}, "d0_e0", "09:00 is not after 12:00."),
        ({"d0_s1": "11:00"}, "d0_s0", "09:00–12:00 and 11:00–17:00 overlap."),
        ({"d0_e0": ""}, "d0_e0", "Give both a start and an end time."),
        ({"d0_s0": "9 to 5"}, "d0_s0", "Enter a valid time."),
        ({"x0_date": "25/12/2026"}, "x0_date", "Enter a valid date."),
        ({"x0_s": "11:00", "x0_e": "10:00"}, "x0_e", "10:00 is not after 11:00."),
        ({"x1_date": "2020-12-25"}, "x1_date", "25 Dec 2020 is in the past."),
    ],
)
def test_hours_reject_bad_input(
    client: Client, new_provider: Any, frozen_now: object, change: dict[str, str], field: str, message: str
) -> None:
    client.post("/onboarding/profile/", PROFILE)
    response = client.post("/onboarding/hours/", {**HOURS, **change})
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert not WeeklyInterval.objects.exists()
    assert Provider.objects.get().onboarding_step == OnboardingStep.HOURS


def test_hours_need_at_least_one_open_day(client: Client, new_provider: Any) -> None:
    client.post("/onboarding/profile/", PROFILE)
    response = client.post("/onboarding/hours/", hours_post({}))
    assert "Open on at least one day" in response.content.decode()
    assert not WeeklyInterval.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"duration_minutes": "0"}, "duration_minutes", "at least 5 minutes"),
        ({"duration_minutes": "-30"}, "duration_minutes", "greater than or equal to 0"),
        ({"price": "0"}, "price", "more than zero"),
        ({"price": "-5"}, "price", "more than zero"),
        ({"price": "abc"}, "price", "Enter a price like 35.00."),
        ({"price": "10.005"}, "price", "2 decimal places at most"),
        ({"max_appointments_per_day": "20"}, "max_appointments_per_day", "fits at most 16 appointments"),
        ({"duration_minutes": "600"}, "duration_minutes", "No appointment of this length"),
        ({"refund_partial_hours": "48"}, "refund_partial_hours", "must not be earlier than the full one"),
        ({"category": ""}, "category", "This field is required"),
    ],
)
def test_service_form_rejects_bad_values(
    client: Client, new_provider: Any, frozen_now: object, overrides: dict[str, str], field: str, message: str
) -> None:
    client.post("/onboarding/profile/", PROFILE)
    client.post("/onboarding/hours/", HOURS)
    response = client.post("/onboarding/service/", service_data(**overrides))
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert not Service.objects.exists()
    assert not Slot.objects.exists()


def test_an_onboarded_provider_is_sent_from_the_wizard_to_the_dashboards_pages(client: Client) -> None:
    service = ServiceFactory()
    client.force_login(service.provider.user)
    assert client.get("/onboarding/hours/").url == "/dashboard/hours"
    assert client.get("/onboarding/profile/").url == "/dashboard/settings"


def test_provider_role_is_required_for_the_profile(db: None) -> None:
    from appointly.core import DomainError
    from providers.services import provider_profile_save

    with pytest.raises(DomainError):
        provider_profile_save(
            user=UserFactory(), business_name="x", timezone_name="UTC", phone="+4915112345678", address="a"
        )
    assert UserFactory().role == Role.CUSTOMER
    assert ProviderFactory().user.role == Role.PROVIDER


def test_the_profile_suggests_the_browsers_zone_from_the_shared_picker(client: Client, new_provider: Any) -> None:
    client.post("/timezone", {"zone": "Europe/Lisbon", "detected": "1"})
    page = client.get("/onboarding/profile/").content.decode()
    assert 'value="Europe/Lisbon"' in page
    assert 'list="zone-list"' in page
    assert '<option value="Europe/Lisbon">' in page
    assert '<option value="US/Eastern">' not in page
