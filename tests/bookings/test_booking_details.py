"""The customer's name, phone and a note for the provider: asked on the confirm page, checked
by the booking service, prefilled next time, and shown to the provider instead of a bare email."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from bookings.models import Appointment
from bookings.services import BookingNotAllowed, CustomerDetails, appointment_hold
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, hidden_fields

pytestmark = pytest.mark.django_db

TEN_BERLIN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(frozen_now: object) -> dict[str, Any]:
    service = ServiceFactory(name="Physio")
    customer = UserFactory(email="casey@example.com")
    client = Client()
    client.force_login(customer)
    slots = list(Slot.objects.filter(service=service, slot_date=TEN_BERLIN.date()).order_by("start"))
    return {"service": service, "customer": customer, "client": client, "slots": slots}


def confirm(world: dict[str, Any], slot: Slot, **details: str) -> Any:
    url = f"/book/{slot.pk}/"
    form = hidden_fields(world["client"].get(url).content.decode())
    return world["client"].post(url, {**form, **details})


def test_details_reach_the_appointment_and_the_providers_pages(world: dict[str, Any]) -> None:
    response = confirm(world, world["slots"][2], name="  Casey   Jones ", phone="+351 912 345 678", notes="Knee, left")
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert (appointment.customer_name, appointment.customer_phone, appointment.notes) == (
        "Casey Jones",
        "+351912345678",
        "Knee, left",
    )
    owner = Client()
    owner.force_login(world["service"].provider.user)
    detail = owner.get(f"/dashboard/appointments/{appointment.pk}").content.decode()
    assert '<dd>Casey Jones<br><a href="mailto:casey@example.com">' in detail
    assert '<a href="tel:+351912345678">+351912345678</a>' in detail
    assert "<dt>Notes</dt><dd>Knee, left</dd>" in detail
    day = owner.get("/dashboard?day=2026-11-30").content.decode()
    assert "· Casey Jones ·" in day


def test_the_next_booking_is_prefilled_from_the_last(world: dict[str, Any]) -> None:
    confirm(world, world["slots"][2], name="Casey Jones", phone="+351912345678")
    page = world["client"].get(f"/book/{world['slots'][5].pk}/").content.decode()
    assert 'value="Casey Jones"' in page
    assert 'value="+351912345678"' in page


def test_a_bad_phone_is_refused_at_its_field_and_nothing_is_held(world: dict[str, Any]) -> None:
    response = confirm(world, world["slots"][2], name="Casey", phone="12345")
    assert response.status_code == 400
    body = response.content.decode()
    assert '<ul class="errorlist" id="id_phone_error"><li>Enter the phone number in international format' in body
    assert 'value="Casey"' in body  # what they typed stays
    assert not Appointment.objects.exists()


def test_without_details_the_provider_sees_the_email(world: dict[str, Any]) -> None:
    confirm(world, world["slots"][2])
    assert Appointment.objects.get().customer_label == "casey@example.com"


def test_the_service_refuses_a_bad_phone_whoever_calls_it(world: dict[str, Any]) -> None:
    with pytest.raises(BookingNotAllowed):
        appointment_hold(
            customer=world["customer"],
            slot_id=world["slots"][2].pk,
            idempotency_key=str(uuid.uuid4()),
            details=CustomerDetails(phone="not a phone"),
        )
    assert not Appointment.objects.exists()
