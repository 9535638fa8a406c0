"""What a stranger or a careless customer sends cannot wedge a time (hardening issue, the parts
about holds and payments)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from bookings.services import holds_expire
from payments.gateways import SandboxGateway
from payments.models import Payment, PaymentStatus
from providers.models import Service, Slot
from tests.factories import ServiceFactory, UserFactory, hidden_fields, is_offered

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(frozen_now: object) -> Any:
    return ServiceFactory()


@pytest.fixture
def customer(client: Client) -> Any:
    user = UserFactory()
    client.force_login(user)
    return user


def monday(service: Service) -> list[Slot]:
    return list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))


def hold(client: Client, slot: Slot) -> Any:
    return client.post(f"/book/{slot.pk}/", hidden_fields(client.get(f"/book/{slot.pk}/").content.decode()))


def test_one_customer_cannot_hold_a_whole_calendar(
    client: Client, customer: Any, service: Service, frozen_now: time_machine.Coordinates
) -> None:
    # Given a customer holding two times without paying
    slots = monday(service)
    assert hold(client, slots[0]).status_code == 302
    assert hold(client, slots[1]).status_code == 302
    # When they try a third
    third = hold(client, slots[2])
    # Then it is refused with a clear message and nothing is held
    assert third.status_code == 400
    assert "You already have 2 unpaid bookings waiting" in third.content.decode()
    assert Appointment.objects.count() == 2
    assert is_offered(slots[2])
    # Paying one frees a place; so does a lapsed hold
    first = Appointment.objects.order_by("start").first()
    client.post(f"/appointments/{first.pk}/pay/", {"payment_key": str(uuid.uuid4()), "card_number": "4242424242424242"})
    assert hold(client, slots[2]).status_code == 302
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 2
    assert hold(client, slots[3]).status_code == 302


def test_an_unexpected_gateway_error_ends_the_payment_and_the_hold_still_lapses(
    client: Client,
    customer: Any,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    frozen_now: time_machine.Coordinates,
) -> None:
    slot = monday(service)[0]
    hold(client, slot)
    appointment = Appointment.objects.get()

    def explode(self: Any, **kwargs: Any) -> Any:
        raise ValueError("invalid literal for int() with base 10")

    monkeypatch.setattr(SandboxGateway, "charge", explode)
    response = client.post(
        f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4()), "card_number": "4242424242424242"}
    )
    # The customer sees a failure page with a retry, not a 500; the attempt is final
    assert response.status_code == 402
    assert "The payment service had a problem" in response.content.decode()
    assert list(Payment.objects.values_list("status", flat=True)) == [PaymentStatus.FAILED]
    # The hold still lapses at its (grace-extended) deadline and the time is bookable again
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 1
    assert Appointment.objects.get().status == AppointmentStatus.EXPIRED
    assert is_offered(slot)
