"""`/p/<slug>/`: the page a provider shares — business, where, opening hours, and each bookable
service with its price and a book button; nothing of a provider not yet public."""

from __future__ import annotations

import pytest
from django.test import Client

from providers.models import OnboardingStep, Provider
from providers.services import service_update
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_business_its_hours_and_what_to_book(client: Client, frozen_now: object) -> None:
    shown = ServiceFactory(name="Deep tissue massage", price_minor=6000)
    hidden = ServiceFactory(provider=shown.provider, name="Secret treatment")
    service_update(service=hidden, is_active=False)
    provider = shown.provider
    page = client.get(f"/p/{provider.slug}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert f'<h1 id="provider-title">{provider.business_name}</h1>' in body
    assert "<dt>Where</dt><dd>Hauptstraße 1, Berlin</dd>" in body
    assert "<dt>Monday</dt><dd>09:00–12:00, 13:00–17:00</dd>" in body
    assert "<dt>Saturday</dt><dd>closed</dd>" in body
    assert '<span class="price">€60.00</span>' in body
    assert f'href="/services/{shown.slug}/">Book Deep tissue massage</a>' in body
    assert "Secret treatment" not in body
    # The service page links back to it, and the dashboard offers it to share
    assert f'href="/p/{provider.slug}/"' in client.get(f"/services/{shown.slug}/").content.decode()
    owner = Client()
    owner.force_login(provider.user)
    assert f'href="/p/{provider.slug}/">Your public page</a>' in owner.get("/dashboard").content.decode()


def test_an_online_provider_says_online(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    Provider.objects.filter(pk=service.provider.pk).update(address="")
    assert "<dt>Where</dt><dd>Online</dd>" in client.get(f"/p/{service.provider.slug}/").content.decode()


def test_unknown_and_unfinished_providers_are_404(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    Provider.objects.filter(pk=service.provider.pk).update(onboarding_step=OnboardingStep.HOURS)
    assert client.get(f"/p/{service.provider.slug}/").status_code == 404
    assert client.get("/p/no-such-provider/").status_code == 404
