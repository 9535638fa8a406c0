"""Staff create provider accounts and profiles in the admin (until provider sign-up exists)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, User
from providers.models import Provider, Service, Slot
from tests.factories import ProviderFactory, UserFactory, category, service_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_staff_creates_a_provider_account(staff_client: Client) -> None:
    assert staff_client.get("/admin/accounts/user/add/").status_code == 200
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.barber@example.com",
            "role": Role.PROVIDER,
            "password1": "a-long-unusual-pass-1",
            "password2": "a-long-unusual-pass-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user = User.objects.get(email="new.barber@example.com")
    assert user.role == Role.PROVIDER
    assert user.check_password("a-long-unusual-pass-1")


def test_admin_lists_and_service_save_regenerates_slots(staff_client: Client, frozen_now: object) -> None:
    provider = ProviderFactory()
    for url in (
        "/admin/accounts/user/",
        "/admin/providers/provider/",
        "/admin/providers/service/",
        "/admin/providers/slot/",
        f"/admin/providers/provider/{provider.pk}/change/",
    ):
        assert staff_client.get(url).status_code == 200, url
    response = staff_client.post("/admin/providers/service/add/", admin_service_form(provider))
    assert response.status_code == 302
    service = Service.objects.get(slug="admin-haircut")
    assert Slot.objects.filter(service=service).count() == 22 * 14 - 1
    assert Provider.objects.count() == 1


def admin_service_form(provider: Provider, **overrides: str) -> dict[str, str]:
    """The admin's service add form: the service form's fields plus provider, slug, minor units."""
    form = service_form(
        provider=str(provider.pk),
        category=str(category().pk),
        name="Admin haircut",
        slug="admin-haircut",
        price_minor="2000",
        is_active="on",
    )
    del form["price"]
    return {**form, **overrides}


def test_the_admin_refuses_a_service_the_hours_cannot_fit(staff_client: Client, frozen_now: object) -> None:
    provider = ProviderFactory()
    form = admin_service_form(provider, slug="admin-massage", max_appointments_per_day="20")
    response = staff_client.post("/admin/providers/service/add/", form)
    assert response.status_code == 200
    assert "Your longest day fits at most 14 appointments" in response.content.decode()
    assert not Service.objects.filter(slug="admin-massage").exists()
    assert not Slot.objects.exists()
