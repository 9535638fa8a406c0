"""Cancellation from the account page, the refund policy, and refunds executed by a job."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, CancelledBy
from bookings.services import BookingNotAllowed, appointment_cancel_by_provider
from outbox.models import Job, JobStatus
from outbox.services import outbox_drain
from payments.models import Payment, Refund, RefundStatus
from payments.services import REFUND_MAX_ATTEMPTS
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, cancel_as_shown, is_offered, slot_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(client: Client, frozen_now: object) -> Appointment:
    # Mon 30 Nov 10:00 Berlin (09:00 UTC); now is Wed 25 Nov 08:00 UTC; price €40.00
    service = ServiceFactory(price_minor=4000)
    customer = UserFactory(email="casey@example.com")
    client.force_login(customer)
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    return book_confirmed(customer, slot)


@pytest.mark.parametrize(
    ("before_start", "refund"),
    [
        (timedelta(days=5), "€40.00"),
        (timedelta(hours=24), "€40.00"),
        (timedelta(hours=23, minutes=59), "€20.00"),
        (timedelta(hours=2), "€20.00"),
        (timedelta(hours=1, minutes=59), "€0.00"),
    ],
)
def test_cancel_page_shows_the_exact_refund_before_confirming(
    client: Client, booked: Appointment, before_start: timedelta, refund: str
) -> None:
    with time_machine.travel(booked.start - before_start, tick=False):
        body = client.get(f"/appointments/{booked.pk}/cancel/").content.decode()
    assert f"you get back <strong>{refund}</strong>" in body
    assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.CONFIRMED


def test_cancelling_frees_the_slot_and_refunds_through_the_gateway(
    client: Client, booked: Appointment, django_capture_on_commit_callbacks: Any
) -> None:
    # Given 30 hours before the start (full refund)
    # When the customer confirms the cancellation (the refund job runs after commit)
    with (
        time_machine.travel(booked.start - timedelta(hours=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = cancel_as_shown(client, booked)
    # Then the appointment is cancelled, the slot free, and the refund executed once
    assert response.status_code == 302
    appointment = Appointment.objects.get(pk=booked.pk)
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancelled_by == CancelledBy.CUSTOMER
    assert is_offered(slot_of(booked))
    refund = Refund.objects.get()
    assert (refund.amount_minor, refund.status, refund.attempts) == (4000, RefundStatus.SUCCEEDED, 1)
    assert refund.gateway_ref.startswith("re_")
    kinds = list(appointment.events.values_list("kind", flat=True))
    assert kinds[-2:] == ["cancelled", "refunded"]
    page = client.get(f"/appointments/{booked.pk}/").content.decode()
    assert "€40.00 · Refunded" in page


def test_cancelling_twice_is_refused_and_changes_nothing(client: Client, booked: Appointment) -> None:
    cancel_as_shown(client, booked)
    response = cancel_as_shown(client, booked)
    assert response.status_code == 400
    assert "already cancelled" in response.content.decode()
    assert Refund.objects.count() == 1


def test_cancelling_after_the_start_is_refused(client: Client, booked: Appointment) -> None:
    with time_machine.travel(booked.start + timedelta(minutes=5), tick=False):
        response = cancel_as_shown(client, booked)
    assert response.status_code == 400
    assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.CONFIRMED
    assert not Refund.objects.exists()


def test_late_cancel_records_no_refund(client: Client, booked: Appointment) -> None:
    with time_machine.travel(booked.start - timedelta(hours=1), tick=False):
        cancel_as_shown(client, booked)
    assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.CANCELLED
    assert not Refund.objects.exists()


def test_provider_cancellation_always_refunds_in_full(booked: Appointment) -> None:
    with time_machine.travel(booked.start - timedelta(minutes=30), tick=False):
        appointment_cancel_by_provider(appointment=booked, provider=booked.provider, reason="Ill today")
    refund = Refund.objects.get()
    assert refund.amount_minor == 4000
    assert refund.reason == "Cancelled by provider: Ill today"
    other_provider = ServiceFactory().provider
    with pytest.raises(BookingNotAllowed):
        appointment_cancel_by_provider(appointment=booked, provider=other_provider)


def test_failed_refund_is_retried_never_doubled_and_dead_lettered_visibly(
    client: Client, frozen_now: time_machine.Coordinates, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a payment whose refunds fail once (sandbox test card), cancelled early
    service = ServiceFactory(price_minor=4000)
    customer = UserFactory()
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first()
    booked = book_confirmed(customer, slot, card="4000000000005126")
    client.force_login(customer)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_as_shown(client, booked)
    refund = Refund.objects.get()
    job = Job.objects.get(kind="payments.refund_execute")
    # Then the first attempt failed and the job waits for its retry: not lost
    assert (refund.status, refund.attempts) == (RefundStatus.PENDING, 1)
    assert "temporarily unavailable" in refund.last_error
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    outbox_drain()  # (sends the notifications) the refund is not due yet: backoff
    assert Job.objects.get(pk=job.pk).attempts == 1
    frozen_now.shift(timedelta(minutes=2))
    outbox_drain()
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (RefundStatus.SUCCEEDED, 2)
    assert Job.objects.get(pk=job.pk).status == JobStatus.DONE
    # Draining again sends nothing more
    frozen_now.shift(timedelta(hours=2))
    outbox_drain()
    assert Refund.objects.get().attempts == 2
    assert Job.objects.get(pk=job.pk).attempts == 2
    assert REFUND_MAX_ATTEMPTS > 2


def test_a_refund_that_keeps_failing_is_dead_lettered_visibly(
    booked: Appointment, frozen_now: time_machine.Coordinates
) -> None:
    from unittest import mock

    from payments.gateways import SandboxGateway, TransientGatewayError

    with mock.patch.object(SandboxGateway, "refund", side_effect=TransientGatewayError("down")):
        appointment_cancel_by_provider(appointment=booked, provider=booked.provider)
        for _ in range(REFUND_MAX_ATTEMPTS):
            outbox_drain()
            frozen_now.shift(timedelta(hours=2))
    refund = Refund.objects.get()
    job = Job.objects.get(kind="payments.refund_execute")
    assert (refund.status, refund.attempts) == (RefundStatus.FAILED, REFUND_MAX_ATTEMPTS)
    assert (job.status, job.attempts) == (JobStatus.DEAD, REFUND_MAX_ATTEMPTS)
    assert "down" in job.last_error
    # An operator requeues it once the gateway is back; it is refunded exactly once
    from payments.services import refund_requeue

    refund_requeue(refund=refund)
    outbox_drain()
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED


def test_strangers_cannot_cancel(booked: Appointment) -> None:
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.post(f"/appointments/{booked.pk}/cancel/").status_code == 404
    assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.CONFIRMED
    assert Payment.objects.count() == 1
    assert not Refund.objects.exists()
