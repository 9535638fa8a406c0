"""The set-based bulk cancel where it meets other operations: a pending reschedule request, and
customers cancelling the same appointments at the same moment (real concurrent connections)."""

from __future__ import annotations

from datetime import date

import pytest

from bookings.availability import offers
from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, RescheduleStatus, TimeClaim
from bookings.services import appointment_cancel_by_customer, appointments_cancel_bulk, reschedule_request
from payments.models import Refund
from providers.models import Slot
from tests.bookings.test_double_booking import race
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def booked(frozen_now: object) -> list[Appointment]:
    service = ServiceFactory(price_minor=4000)
    slots = list(Slot.objects.filter(service=service, slot_date__gte=date(2026, 11, 30)).order_by("start")[:6])
    return [book_confirmed(UserFactory(), slot) for slot in slots]


def test_a_bulk_cancel_withdraws_a_pending_request_and_frees_its_time(booked: list[Appointment]) -> None:
    # Given a customer asked to move their appointment to a later time (claimed for the request)
    first = booked[0]
    later = offers(first.service).order_by("-start").first()
    assert later is not None
    request = reschedule_request(appointment=first, customer=first.customer, new_slot_id=later.pk)
    assert not offers(first.service).filter(pk=later.pk).exists()
    # When the provider cancels it among others
    results = appointments_cancel_bulk(provider=first.provider, ids=[str(a.pk) for a in booked[:3]], reason="Ill")
    # Then all three are cancelled, the request withdrawn and both its times free again
    assert [r.outcome for r in results] == ["cancelled"] * 3
    assert RescheduleRequest.objects.get(pk=request.pk).status == RescheduleStatus.WITHDRAWN
    assert not TimeClaim.objects.filter(reschedule=request).exists()
    assert not TimeClaim.objects.filter(appointment=first).exists()
    assert offers(first.service).filter(pk=later.pk).exists()


def test_customers_cancelling_while_the_provider_bulk_cancels_refund_each_once(booked: list[Appointment]) -> None:
    # Given six booked appointments; when the provider cancels all six while three customers
    # cancel their own at the same moment
    provider = booked[0].provider
    answers = race(
        [lambda: appointments_cancel_bulk(provider=provider, ids=[str(a.pk) for a in booked])]
        + [
            lambda a=a: appointment_cancel_by_customer(appointment=a, customer=a.customer)  # type: ignore[misc]
            for a in booked[:3]
        ]
    )
    # Then every appointment is cancelled once, by one of them, with one refund each
    bulk = answers[0]
    assert not isinstance(bulk, Exception), bulk
    by_customer = {a.pk for a, r in zip(booked[:3], answers[1:], strict=True) if isinstance(r, Appointment)}
    for appointment, result in zip(booked, bulk, strict=True):
        won = appointment.pk not in by_customer
        assert result.outcome == ("cancelled" if won else "already cancelled"), (result, by_customer)
        appointment.refresh_from_db()
        assert appointment.status == AppointmentStatus.CANCELLED
        assert appointment.cancelled_by == ("provider" if won else "customer")
        assert Refund.objects.filter(payment__reference=str(appointment.pk)).count() == 1
    assert not TimeClaim.objects.filter(appointment__in=booked).exists()
