"""What a stranger or a careless customer sends cannot wedge a time (hardening issue, the parts
about holds and payments)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from bookings.models import Appointment, AppointmentStatus
from bookings.services import holds_expire
from notifications.models import Message
from outbox.services import outbox_drain
from payments.gateways import SandboxGateway, TransientGatewayError
from payments.models import Payment, PaymentStatus, Refund, SandboxCheckout, SandboxEvent
from providers.models import Service, Slot
from tests.factories import ServiceFactory, UserFactory, deliver_webhooks, hidden_fields, is_offered, pay_flow

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
    pay_flow(client, first)
    assert hold(client, slots[2]).status_code == 302
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 2
    assert hold(client, slots[3]).status_code == 302


@pytest.mark.parametrize(
    ("error", "final"),
    [(TransientGatewayError("timeout"), PaymentStatus.PENDING), (ValueError("bad literal"), PaymentStatus.FAILED)],
)
def test_a_gateway_that_fails_to_open_the_page_charges_nothing_and_the_hold_still_lapses(
    client: Client,
    customer: Any,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    frozen_now: time_machine.Coordinates,
    error: Exception,
    final: str,
) -> None:
    slot = monday(service)[0]
    hold(client, slot)
    appointment = Appointment.objects.get()

    def explode(self: Any, **kwargs: Any) -> Any:
        raise error

    with monkeypatch.context() as patched:
        patched.setattr(SandboxGateway, "checkout_create", explode)
        response = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    # The customer sees a clear page with the Pay button, not a 500; nothing slept in the request
    assert response.status_code == 503
    assert "You have not been charged" in response.content.decode()
    assert list(Payment.objects.values_list("status", "checkout_session_id")) == [(final, "")]
    # Pressing Pay again works (a transient error: the same payment, its same key)
    again = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    assert again.status_code == 302
    assert "/sandbox/checkout/" in again.url
    assert Payment.objects.filter(status=PaymentStatus.PENDING).count() == 1
    # Unpaid, the hold still lapses at its (grace-extended) deadline; the page is closed
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 1
    outbox_drain()
    assert Appointment.objects.get().status == AppointmentStatus.EXPIRED
    assert SandboxCheckout.objects.get().status == "expired"
    assert is_offered(slot)


def test_a_page_that_was_never_opened_ends_failed_and_the_hold_stays(
    client: Client,
    customer: Any,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    frozen_now: time_machine.Coordinates,
) -> None:
    from bookings.tasks import holds_expire_task

    hold(client, monday(service)[0])
    appointment = Appointment.objects.get()
    with monkeypatch.context() as patched:
        patched.setattr(
            SandboxGateway, "checkout_create", lambda self, **kw: (_ for _ in ()).throw(TransientGatewayError())
        )
        client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    payment = Payment.objects.get()
    frozen_now.shift(timedelta(seconds=30))
    holds_expire_task()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # not stale yet: the customer may press Pay again
    frozen_now.shift(timedelta(minutes=1))
    holds_expire_task()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert Appointment.objects.get().status == AppointmentStatus.HELD  # the customer may still pay
    assert "did not start" in client.get(f"/appointments/{appointment.pk}/pay/").content.decode()


def lose_webhooks() -> None:
    SandboxEvent.objects.update(delivered_at=timezone.now())


def test_a_lost_webhook_is_made_up_by_the_queued_check(
    client: Client, customer: Any, service: Service, frozen_now: time_machine.Coordinates
) -> None:
    from bookings.tasks import holds_expire_task

    hold(client, monday(service)[0])
    appointment = Appointment.objects.get()
    # Paid on the hosted page, but the webhook never arrives
    back = pay_flow(client, appointment, deliver=False)
    lose_webhooks()
    assert "Confirming your payment" in back.content.decode()
    frozen_now.shift(timedelta(minutes=2))
    holds_expire_task()
    appointment.refresh_from_db()
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.gateway_ref.startswith("pi_sandbox_")
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert list(appointment.events.values_list("kind", flat=True))[-2:] == ["paid", "confirmed"]


def test_a_payment_completing_after_the_hold_lapsed_books_the_time_if_still_free(
    client: Client, customer: Any, service: Service, frozen_now: time_machine.Coordinates
) -> None:
    slot = monday(service)[0]
    hold(client, slot)
    appointment = Appointment.objects.get()
    # The page was paid, its webhook arrives only after the hold lapsed; nobody took the time
    pay_flow(client, appointment, deliver=False)
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 1
    deliver_webhooks(client)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.events.filter(kind="confirmed", data__after_hold_lapsed=True).exists()
    assert not Refund.objects.exists()
    assert not is_offered(slot)


def test_a_payment_completing_after_the_hold_lapsed_and_the_time_went_is_refunded_and_the_customer_told(
    client: Client, customer: Any, service: Service, frozen_now: time_machine.Coordinates
) -> None:
    slot = monday(service)[0]
    hold(client, slot)
    appointment = Appointment.objects.get()
    pay_flow(client, appointment, deliver=False)
    frozen_now.shift(timedelta(minutes=11))
    holds_expire()
    rival = Client()
    rival.force_login(UserFactory())
    assert hold(rival, slot).status_code == 302
    deliver_webhooks(client)
    payment = Payment.objects.get(customer=customer)
    assert list(Refund.objects.values_list("amount_minor", "payment_id")) == [(payment.amount_minor, payment.pk)]
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.EXPIRED
    told = Message.objects.filter(recipient=customer, event="late_payment_refunded").first()
    assert told is not None
    assert "refunding all of it" in told.body
    # The return page does not say "confirming" for ever: the booking page explains
    assert client.get(f"/appointments/{appointment.pk}/pay/return/").url == f"/appointments/{appointment.pk}/"
