"""Providers choose how they are told (email, SMS, WhatsApp) on their dashboard, with the same
form as customers, and provider-facing events honour it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from notifications.models import Message, Preference
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db


def test_a_provider_chooses_whatsapp_and_new_bookings_arrive_there(frozen_now: object) -> None:
    service = ServiceFactory()
    owner = Client()
    owner.force_login(service.provider.user)
    page = owner.get("/dashboard/settings").content.decode()
    assert '<h2 id="prefs-title">How we reach you</h2>' in page
    saved = owner.post("/notifications/preferences", {"channel": "whatsapp", "phone": "+49 151 1234 5678"}, follow=True)
    assert "Saved: we&#x27;ll send updates the way you chose." in saved.content.decode()
    assert Preference.objects.get(user=service.provider.user).phone == "+4915112345678"
    book_confirmed(UserFactory(), Slot.objects.filter(service=service).first())
    told = Message.objects.filter(recipient=service.provider.user, event="booked_provider").exclude(channel="in_app")
    assert list(told.values_list("channel", "to_address")) == [("whatsapp", "+4915112345678")]


def test_a_bad_number_is_refused_and_email_stays(frozen_now: object) -> None:
    service: Any = ServiceFactory()
    owner = Client()
    owner.force_login(service.provider.user)
    refused = owner.post("/notifications/preferences", {"channel": "sms", "phone": "12"}, follow=True)
    assert "Not saved:" in refused.content.decode()
    assert not Preference.objects.filter(user=service.provider.user, channel="sms").exists()
