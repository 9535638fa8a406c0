"""JSON endpoints answer every error with the one JSON error body, never an HTML page or a
redirect (hardening issue, finding 7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from bookings.models import Appointment
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/provider/appointments/cancel"
BODY = json.dumps({"ids": ["00000000-0000-0000-0000-000000000000"]})


def body_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"code", "message", "details"}
    return data


def test_anonymous_is_401_not_a_redirect_to_a_login_page(client: Client) -> None:
    response = client.post(URL, BODY, content_type="application/json")
    assert response.status_code == 401
    assert body_of(response)["code"] == "unauthenticated"


def test_a_customer_is_403(client: Client) -> None:
    client.force_login(UserFactory())
    response = client.post(URL, BODY, content_type="application/json")
    assert response.status_code == 403
    assert body_of(response)["code"] == "forbidden"


def test_a_wrong_method_is_405_with_allow(client: Client, frozen_now: object) -> None:
    client.force_login(ServiceFactory().provider.user)
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert body_of(response)["code"] == "method_not_allowed"


def test_an_unknown_api_address_is_404(client: Client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"


def test_a_missing_csrf_token_is_403_csrf_failed_and_changes_nothing(frozen_now: object) -> None:
    service = ServiceFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(service.provider.user)
    response = client.post(URL, BODY, content_type="application/json")
    assert response.status_code == 403
    assert body_of(response)["code"] == "csrf_failed"
    assert not Appointment.objects.exists()


def test_pages_keep_their_html_errors(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_signed_in_pages_are_private_and_not_stored(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    assert "no-store" not in client.get("/").get("Cache-Control", "")
    client.force_login(UserFactory())
    for url in ("/", "/account/", f"/services/{service.slug}/"):
        cache_control = client.get(url)["Cache-Control"]
        assert "private" in cache_control, url
        assert "no-store" in cache_control, url


def test_every_page_carries_the_content_security_policy(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    for url in ("/", f"/services/{service.slug}/", "/accounts/login/", "/login-provider"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy, url
        assert "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy, url
        assert "frame-ancestors 'none'" in policy, url


def test_a_person_whose_form_expired_gets_our_page_without_inline_styles(frozen_now: object) -> None:
    # Django's built-in CSRF page carries an inline <style> that the Content-Security-Policy blocks
    service = ServiceFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(service.provider.user)
    response = client.post("/dashboard/qr/rotate", {})
    assert response.status_code == 403
    body = response.content.decode()
    assert "That form had expired" in body
    assert "<style" not in body
    assert "style=" not in body
