"""Input the database cannot store (NUL and other control characters) is refused with 400
everywhere, in one place, before any page sees it (hardening issue, finding 3)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import User
from providers.models import ProviderLoginChallenge
from tests.factories import PASSWORD, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("get", "/?q=%00", None),
        ("get", "/?category=%00", None),
        ("get", "/?provider=%00", None),
        ("get", "/?q=a%01b", None),
        ("get", "/auth/%00", None),
        ("post", "/auth/%00", {"code": "123456"}),
        ("post", "/auth/%00/resend", {}),
        ("post", "/login-provider", {"email": "a\x00b@example.com", "password": "x"}),
        ("post", "/accounts/login/", {"login": "a@example.com", "password": "p\x00"}),
        ("post", "/accounts/signup/", {"email": "new\x00@example.com", "password1": "x", "password2": "x"}),
    ],
)
def test_control_characters_are_a_400_for_anyone(client: Client, method: str, url: str, data: dict | None) -> None:
    response = getattr(client, method)(url, data) if data is not None else client.get(url)
    assert response.status_code == 400
    assert "control characters" in response.content.decode()
    assert not ProviderLoginChallenge.objects.exists()
    assert User.objects.count() == 0


def test_json_callers_get_the_json_error_body(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    client.force_login(service.provider.user)
    response = client.post(
        "/api/v1/provider/appointments/cancel",
        json.dumps({"ids": ["abc\u0000"], "reason": ""}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert set(response.json()) == {"code", "message", "details"}


def test_ordinary_text_with_newlines_and_accents_passes(client: Client, frozen_now: object) -> None:
    ServiceFactory()
    assert client.get("/?q=caf%C3%A9%09tea").status_code == 200
    response = client.post("/login-provider", {"email": "nobody@example.com", "password": PASSWORD})
    # the ordinary wrong-credentials answer, not the control-character refusal
    assert "That email and password do not match a provider account." in response.content.decode()
    assert "control characters" not in response.content.decode()
