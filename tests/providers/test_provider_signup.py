"""A business joins on its own: /signup-provider → the emailed link confirms the address → sign
in (password + code) → the onboarding wizard, with the business name already filled in. The
answer never tells whether an email has an account; sign-ups are rate-limited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-pw"


def sign_up(client: Client, email: str = "owner@kiez.example", **extra: str) -> Any:
    return client.post(
        "/signup-provider",
        {"business_name": "Kiez Barber", "email": email, "password1": PASSWORD, "password2": PASSWORD, **extra},
    )


def link_in(message: Any) -> str:
    return re.search(r"https?://[^/\s]+(/signup-provider/verify/\S+)", message.body).group(1)


def test_sign_up_verify_sign_in_and_the_wizard_knows_the_name(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client)
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    user = User.objects.get(email="owner@kiez.example")
    assert user.role == Role.PROVIDER
    assert not EmailAddress.objects.get(user=user).verified
    # Not before the email is confirmed (said only after the right password)
    early = client.post("/login-provider", {"email": "owner@kiez.example", "password": PASSWORD})
    assert "Confirm your email first" in early.content.decode()
    # The link confirms it
    message = mail.outbox[-1]
    assert message.subject == "Appointly: Confirm your email"
    confirmed = client.get(link_in(message))
    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/login-provider"
    assert EmailAddress.objects.get(user=user).verified
    # Password, then the emailed code, then the wizard with the name typed at sign-up
    with django_capture_on_commit_callbacks(execute=True):
        step = client.post("/login-provider", {"email": "owner@kiez.example", "password": PASSWORD})
    assert step.status_code == 302
    code = re.search(r"sign-in code is: (\d{6})", mail.outbox[-1].body).group(1)
    signed_in = client.post(step["Location"], {"code": code}, follow=True)
    assert signed_in.redirect_chain[-1][0] == "/onboarding/profile/"
    assert 'value="Kiez Barber"' in signed_in.content.decode()


def test_an_email_that_has_an_account_gets_the_same_answer_and_an_explanation(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    customer = UserFactory(email="casey@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, email="casey@example.com")
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    assert User.objects.filter(email="casey@example.com").count() == 1
    assert User.objects.get(pk=customer.pk).role == Role.CUSTOMER
    assert mail.outbox[-1].subject == "Appointly: You already have an account"
    assert "/signup-provider/verify/" not in mail.outbox[-1].body


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"business_name": "  "}, "business_name", "Enter your business&#x27;s name."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password2": "something-else-entirely"}, "password2", "The two passwords are not the same."),
        ({"password1": "123", "password2": "123"}, "password1", "This password is too short."),
    ],
)
def test_bad_input_is_answered_at_the_field(client: Client, fields: dict[str, str], field: str, message: str) -> None:
    response = sign_up(client, **fields)
    assert response.status_code == 400
    body = response.content.decode()
    assert f'<ul class="errorlist" id="id_{field}_error"><li>{message}' in body
    assert not User.objects.filter(role=Role.PROVIDER).exists()
    assert not mail.outbox


def test_sign_ups_are_rate_limited(client: Client) -> None:
    answers = [sign_up(client, email=f"owner{i}@kiez.example").status_code for i in range(11)]
    assert answers[:10] == [200] * 10
    assert answers[10] == 429
    assert User.objects.filter(role=Role.PROVIDER).count() == 10


@pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:1abc:forged"])
def test_a_bad_or_forged_link_is_refused(client: Client, token: str) -> None:
    response = client.get(f"/signup-provider/verify/{token}")
    assert response.status_code == 400
    assert "This link is not valid or has expired" in response.content.decode()


def test_for_providers_leads_to_sign_up(client: Client) -> None:
    assert 'href="/signup-provider" class="muted">For providers</a>' in client.get("/").content.decode()
    assert 'href="/signup-provider">Sign up your business</a>' in client.get("/login-provider").content.decode()


def test_a_provider_resets_a_forgotten_password(client: Client, django_capture_on_commit_callbacks: Any) -> None:
    from tests.factories import ProviderFactory, ProviderUserFactory

    provider = ProviderFactory(user=ProviderUserFactory(email="owner@kiez.example"))
    assert (
        'href="/accounts/password/reset/">Forgot your password?</a>' in client.get("/login-provider").content.decode()
    )
    client.post("/accounts/password/reset/", {"email": "owner@kiez.example"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[-1].body).group(1)
    form_page = client.get(link, follow=True)
    new = "another-long-unusual-pw"
    changed = client.post(form_page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert changed.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        step = client.post("/login-provider", {"email": "owner@kiez.example", "password": new})
    assert step.status_code == 302
    assert step["Location"].startswith("/auth/")
    assert User.objects.get(pk=provider.user.pk).check_password(new)
