"""The API's confirm under concurrent double submits, on real PostgreSQL connections."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from django.test import Client

from api.tokens import token_create
from bookings.models import Appointment
from payments.models import Payment, SandboxCheckout
from providers.models import Slot
from tests.bookings.test_double_booking import race
from tests.factories import ServiceFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_confirm_sent_eight_times_at_once_opens_one_payment_page(frozen_now: object) -> None:
    service = ServiceFactory(price_minor=3000)
    customer = UserFactory()
    raw = token_create(user=customer, name="agent", scopes=["read", "book"], days=7)[1]
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    headers = {"Authorization": f"Bearer {raw}"}
    key = str(uuid.uuid4())

    def propose() -> Any:
        body = {"slot_id": str(slot.pk), "idempotency_key": key}
        return Client(headers=headers).post("/api/v1/bookings", body, content_type="application/json")

    proposed = race([propose] * 6)
    assert {r.status_code for r in proposed} == {201}, [r.content for r in proposed]
    assert Appointment.objects.count() == 1
    appointment_id = Appointment.objects.get().pk
    confirm_key = str(uuid.uuid4())

    def confirm() -> Any:
        return Client(headers=headers).post(
            f"/api/v1/bookings/{appointment_id}/confirm",
            {"idempotency_key": confirm_key},
            content_type="application/json",
        )

    answers = race([confirm] * 8)
    assert {a.status_code for a in answers} == {200}, [a.content for a in answers]
    assert len({a.json()["checkout_url"] for a in answers}) == 1
    assert Payment.objects.count() == 1
    assert SandboxCheckout.objects.count() == 1
