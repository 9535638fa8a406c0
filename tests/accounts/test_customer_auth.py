"""Customer sign-up and login through allauth (email only), and the provider password step."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client

from accounts.models import Role, User
from appointly.core import Kind, identity_for_user
from tests.factories import PASSWORD, ProviderFactory, ProviderUserFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-unusual-passphrase"


def test_signup_makes_an_unverified_customer_and_sends_a_verification_email(client: Client) -> None:
    # When a visitor signs up with just an email and a password
    response = client.post(
        "/accounts/signup/", {"email": "Ana@Example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    # Then a customer account exists, with no username, and must verify the address
    assert response.status_code == 302
    user = User.objects.get(email__iexact="ana@example.com")
    assert user.role == Role.CUSTOMER
    assert not hasattr(user, "username") or user.username is None  # type: ignore[attr-defined]
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ana@example.com"]
    # Following the link in the email verifies the address and signs the customer in
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+)", mail.outbox[0].body)
    assert link is not None
    client.post(link.group(1))
    assert EmailAddress.objects.get(user=user).verified


def test_signup_rejects_bad_input_without_creating_anyone(client: Client) -> None:
    UserFactory(email="taken@example.com")
    cases = [
        ({"email": "not-an-email", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "email"),
        ({"email": "new@example.com", "password1": NEW_PASSWORD, "password2": "different-one-x"}, "password2"),
        ({"email": "new@example.com", "password1": "123", "password2": "123"}, "password1"),
    ]
    for data, field in cases:
        response = client.post("/accounts/signup/", data)
        assert response.status_code == 200
        assert response.context["form"].errors[field]
    assert User.objects.count() == 1
    assert len(mail.outbox) == 0


def test_signup_with_a_taken_email_does_not_reveal_it(client: Client) -> None:
    # allauth's enumeration protection: the same "check your inbox" answer, and the owner is told
    UserFactory(email="taken@example.com")
    response = client.post(
        "/accounts/signup/", {"email": "taken@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["taken@example.com"]


def test_verified_customer_logs_in_with_email(client: Client) -> None:
    user = UserFactory(email="casey@example.com")
    response = client.post("/accounts/login/", {"login": "casey@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_wrong_password_is_refused(client: Client) -> None:
    UserFactory(email="casey@example.com")
    response = client.post("/accounts/login/", {"login": "casey@example.com", "password": "wrong-password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_password_reset_sends_an_email(client: Client) -> None:
    UserFactory(email="casey@example.com")
    response = client.post("/accounts/password/reset/", {"email": "casey@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_failed_logins_are_rate_limited(client: Client) -> None:
    UserFactory(email="casey@example.com")
    statuses = [
        client.post("/accounts/login/", {"login": "casey@example.com", "password": f"wrong-{i}"}).status_code
        for i in range(8)
    ]
    assert statuses == [200] * 8
    # 5 failures per 5 minutes per account: now even the right password is not checked
    response = client.post("/accounts/login/", {"login": "casey@example.com", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_provider_account_cannot_log_in_as_a_customer(client: Client) -> None:
    provider_user = ProviderUserFactory(email="barber@example.com")
    response = client.post("/accounts/login/", {"login": provider_user.email, "password": PASSWORD}, follow=True)
    assert "_auth_user_id" not in client.session
    assert "This is a provider account" in response.content.decode()


def test_who_helper_tells_the_three_kinds_apart(db: None) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert identity_for_user(AnonymousUser()).kind is Kind.ANONYMOUS
    customer = identity_for_user(UserFactory())
    assert customer.kind is Kind.CUSTOMER
    assert customer.provider is None
    provider = ProviderFactory()
    identity = identity_for_user(User.objects.get(pk=provider.user.pk))
    assert identity.kind is Kind.PROVIDER
    assert identity.provider == provider
    assert identity.is_onboarded
    fresh = identity_for_user(ProviderUserFactory())
    assert fresh.is_provider
    assert fresh.provider is None
    assert not fresh.is_onboarded


def test_templates_know_who_is_there(client: Client) -> None:
    assert "For providers" in client.get("/").content.decode()
    client.force_login(UserFactory(email="casey@example.com"))
    body = client.get("/").content.decode()
    assert "casey@example.com" in body
    assert "Dashboard" not in body


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast, tests only) that counts how often a password is hashed."""

    calls = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.mark.parametrize("email", ["taken@example.com", "fresh@example.com"])
def test_signup_hashes_once_whether_or_not_the_email_has_an_account(client: Client, settings: Any, email: str) -> None:
    # Given an account for taken@example.com (made before counting starts)
    UserFactory(email="taken@example.com")
    settings.PASSWORD_HASHERS = ["tests.accounts.test_customer_auth.CountingHasher"]
    CountingHasher.calls = 0
    # When someone signs up with either email
    response = client.post("/accounts/signup/", {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    # Then the answer is the same and the password hasher ran exactly once on both paths (the
    # time taken no longer tells which emails have accounts; timings: not asserted in tests)
    assert response.status_code == 302
    assert response.url == "/accounts/confirm-email/"
    assert CountingHasher.calls == 1
    assert len(mail.outbox) == 1


def test_a_locked_password_path_does_not_lock_the_owner_out(client: Client) -> None:
    # Given someone who keeps failing the owner's password (the password path is locked)
    UserFactory(email="casey@example.com")
    attacker = Client()
    for i in range(6):
        attacker.post("/accounts/login/", {"login": "casey@example.com", "password": f"wrong-{i}"})
    locked = client.post("/accounts/login/", {"login": "casey@example.com", "password": PASSWORD})
    assert "Too many failed login attempts" in locked.content.decode()
    # When the owner asks for a sign-in code by email instead (offered on the login page)
    assert "/accounts/login/code/" in client.get("/accounts/login/").content.decode()
    mail.outbox.clear()
    asked = client.post("/accounts/login/code/", {"email": "casey@example.com"})
    assert asked.status_code == 302
    code = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", mail.outbox[-1].body, re.MULTILINE)
    assert code is not None, mail.outbox[-1].body
    # Then the code signs them in
    confirmed = client.post(asked.url, {"code": code.group(1)})
    assert confirmed.status_code == 302
    assert "_auth_user_id" in client.session
