"""Online services: a provider who works by video call needs no address; the service says
"Online" wherever a place would be shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from providers.models import Provider, Service
from tests.factories import ProviderUserFactory, category, service_form
from tests.providers.test_onboarding import HOURS, PROFILE

pytestmark = pytest.mark.django_db


def test_an_online_tutor_onboards_without_an_address(client: Client, frozen_now: object) -> None:
    user = ProviderUserFactory()
    client.force_login(user)
    assert client.post("/onboarding/profile/", {**PROFILE, "address": ""}).status_code == 302
    client.post("/onboarding/hours/", HOURS)
    created = client.post("/onboarding/service/", service_form(category=category().pk, is_online="on"), follow=True)
    assert created.status_code == 200
    provider = Provider.objects.get(user=user)
    # The wizard's last step offers the page to share
    assert f"Share your page: http://testserver/p/{provider.slug}/" in created.content.decode()
    service = Service.objects.get(provider=provider)
    assert provider.address == ""
    assert service.is_online
    page = Client().get(f"/services/{service.slug}/").content.decode()
    assert '<span class="badge">Online</span>' in page
    assert "<dt>Where</dt><dd>Online: the provider sends you the link</dd>" in page


def test_an_in_person_service_shows_its_place(client: Client, frozen_now: object) -> None:
    from tests.factories import ServiceFactory

    service: Any = ServiceFactory(location="Room 2, Hauptstraße 1")
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert "<dt>Where</dt><dd>Room 2, Hauptstraße 1</dd>" in page
    assert '<span class="badge">Online</span>' not in page
