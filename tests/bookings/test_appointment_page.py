"""The appointment page's finishing touches: calendar links that carry the exact instant, who
cancelled and why, and the pay page's hold countdown."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from bookings.services import appointment_cancel_by_provider, appointment_hold
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

TEN_BERLIN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_google_and_outlook_links_carry_the_same_instant_as_the_ics(frozen_now: object) -> None:
    service = ServiceFactory(name="Physio")
    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.get(service=service, start=TEN_BERLIN))
    client = Client()
    client.force_login(customer)
    page = client.get(f"/appointments/{appointment.pk}/").content.decode().replace("&amp;", "&")
    google = next(u for u in page.split('"') if u.startswith("https://calendar.google.com/"))
    outlook = next(u for u in page.split('"') if u.startswith("https://outlook.live.com/"))
    assert parse_qs(urlparse(google).query)["dates"] == ["20261130T090000Z/20261130T093000Z"]
    assert parse_qs(urlparse(google).query)["text"] == [f"Physio · {service.provider.business_name}"]
    assert parse_qs(urlparse(outlook).query)["startdt"] == ["2026-11-30T09:00:00Z"]
    assert parse_qs(urlparse(outlook).query)["enddt"] == ["2026-11-30T09:30:00Z"]
    assert "DTSTART:20261130T090000Z" in client.get(f"/appointments/{appointment.pk}/calendar.ics").content.decode()


def test_the_page_says_who_cancelled_and_why(frozen_now: object) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.get(service=service, start=TEN_BERLIN))
    appointment_cancel_by_provider(appointment=appointment, provider=service.provider, reason="Ill today")
    client = Client()
    client.force_login(customer)
    page = client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert f"<dt>Cancelled</dt><dd>by {service.provider.business_name}, Wed 25 Nov 2026, 09:00 CET: “Ill today”" in page
    assert "Google Calendar" not in page


def held_and_signed_in() -> tuple[Any, Client]:
    """A customer, signed in, holding 10:00 in Berlin on Monday 30 November (not paid yet)."""
    service = ServiceFactory()
    customer = UserFactory()
    held = appointment_hold(
        customer=customer,
        slot_id=Slot.objects.get(service=service, start=TEN_BERLIN).pk,
        idempotency_key=str(uuid.uuid4()),
    )
    client = Client()
    client.force_login(customer)
    return held, client


def test_the_pay_page_counts_down_to_the_holds_deadline(frozen_now: object) -> None:
    held, client = held_and_signed_in()
    page = client.get(f"/appointments/{held.pk}/pay/").content.decode()
    assert "held for you until <strong>09:10 CET</strong>" in page
    assert 'data-countdown="2026-11-25T09:10:00+01:00"' in page
    assert "js/countdown.js" in page


def test_our_pay_page_never_asks_for_a_card_number(frozen_now: object) -> None:
    held, client = held_and_signed_in()
    body = client.get(f"/appointments/{held.pk}/pay/").content.decode()
    assert "card_number" not in body
    assert "your card number never reaches Appointly" in body
    # Coming back from the hosted page without paying: still held, said plainly
    back = client.get(f"/appointments/{held.pk}/pay/?cancelled=1").content.decode()
    assert "You came back without paying. The time is still held for you" in back
