"""allauth's pages and emails in the product's look: labels without colons, errors and help at
their field, the "remember me" box beside its label, the product's name and SITE_URL in mail."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_login_page_labels_fields_and_puts_errors_at_them(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_login">Email</label>' in page
    assert "Remember Me:" not in page
    assert re.search(r'<label class="check-label" for="id_remember"><input[^>]+> Remember Me</label>', page)
    wrong = client.post("/accounts/login/", {"login": "nobody@example.com", "password": "x"}).content.decode()
    assert '<div role="alert"><ul class="errorlist nonfield">' in wrong


def test_signup_errors_sit_at_their_field(client: Client) -> None:
    page = client.post(
        "/accounts/signup/", {"email": "not-an-email", "password1": "short", "password2": "other"}
    ).content.decode()
    assert re.search(r'<div class="field has-error">\s*<label for="id_email">Email</label>', page)
    assert '<ul class="errorlist" id="id_email_error"><li>Enter a valid email address.</li></ul>' in page
    assert 'aria-invalid="true"' in page


def test_the_verification_email_names_the_product_and_its_public_address(client: Client, settings: Any) -> None:
    settings.SITE_URL = "https://appointly.example"
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a-long-and-unusual-pw", "password2": "a-long-and-unusual-pw"},
    )
    message = mail.outbox[-1]
    assert message.subject.startswith("Appointly: ")
    assert message.body.startswith("Hello from Appointly!")
    assert message.body.rstrip().endswith("https://appointly.example")
    assert "testserver!" not in message.body
    assert "Hello from testserver" not in message.body
