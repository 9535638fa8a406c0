"""Staff create provider accounts and profiles in the admin (until provider sign-up exists)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Role, User
from providers.models import Provider, Service, Slot
from tests.factories import (
    PASSWORD,
    ProviderFactory,
    UserFactory,
    category,
    service_form,
    staff_with_second_factor,
    totp_now,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(staff_with_second_factor()[0])
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


def test_the_admin_signs_in_through_allauth_with_a_second_factor(client: Client) -> None:
    # Anonymous: the admin's own login form is not used; allauth's (rate limits, lockout) is
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")
    login = client.get(response.url)
    assert login.status_code == 302
    assert login.url.startswith("/accounts/login/?next=")
    # A staff member with an authenticator app: password, then the app's code, then the admin
    user, secret = staff_with_second_factor(email="ops@example.com")
    step = client.post("/accounts/login/", {"login": "ops@example.com", "password": PASSWORD, "next": "/admin/"})
    assert step.status_code == 302
    assert step.url.startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
    wrong = client.post(step.url, {"code": "000000"})
    assert "_auth_user_id" not in client.session
    assert wrong.status_code == 200
    done = client.post(step.url, {"code": totp_now(secret)})
    assert done.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.get("/admin/").status_code == 200


def test_staff_without_a_second_factor_are_sent_to_set_one_up(client: Client) -> None:
    # Given a staff member who signs in with their password and has no authenticator app yet
    UserFactory(email="new.ops@example.com", is_staff=True, is_superuser=True)
    client.post("/accounts/login/", {"login": "new.ops@example.com", "password": PASSWORD})
    # Then no admin page opens: each sends them to set up the app first
    for url in ("/admin/", "/admin/providers/service/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == "/accounts/2fa/totp/activate/"
    # (allauth asks for the password again before changing sign-in security)
    reauth = client.get("/accounts/2fa/totp/activate/")
    assert reauth.url.startswith("/accounts/reauthenticate/")
    assert "set up an authenticator app to open the admin" in client.get(reauth.url).content.decode()
    client.post(reauth.url, {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/").content.decode()
    assert "Authenticator" in page
    # When they add the secret shown to their app and confirm a code from it
    secret = re.search(r'value="([A-Z2-7]{32})"', page)
    assert secret is not None
    client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret.group(1))})
    # Then the admin opens
    assert client.get("/admin/").status_code == 200
