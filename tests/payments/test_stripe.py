"""The Stripe gateway end to end against a local fake of Stripe's API (the real `stripe` client
runs): Checkout Sessions, webhooks signed with the endpoint's secret, expiry of a lapsed hold's
session, late completions, network errors, refunds with retries, reconciliation."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bookings.models import Appointment, AppointmentStatus
from bookings.services import appointment_cancel_by_customer, appointment_hold, holds_expire
from outbox.services import outbox_drain
from payments.models import Payment, PaymentStatus, ReconciliationRun, Refund, RefundStatus
from payments.stripe_gateway import StripeGateway
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, is_offered
from tests.payments.conftest import stray_checkout
from tests.payments.fake_stripe import WEBHOOK_SECRET, FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(frozen_now: time_machine.Coordinates, client: Client) -> dict[str, Any]:
    service = ServiceFactory(price_minor=5000)
    customer = UserFactory()
    client.force_login(customer)
    slots = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    return {"service": service, "customer": customer, "slot": slots[2]}


def hold(shop: dict[str, Any]) -> Appointment:
    return appointment_hold(customer=shop["customer"], slot_id=shop["slot"].pk, idempotency_key=str(uuid.uuid4()))


def press_pay(client: Client, appointment: Appointment) -> Any:
    return client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})


def open_session(client: Client, appointment: Appointment) -> str:
    """Pay pressed: the id of the Stripe session the customer is sent to."""
    return str(press_pay(client, appointment).url.rsplit("/", 1)[-1])


def deliver(client: Client, fake: FakeStripe, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> Any:
    body, signature = fake.signed(event, secret)
    return client.post("/payments/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def test_pay_on_stripes_page_and_the_webhook_confirms(client: Client, fake: FakeStripe, shop: dict[str, Any]) -> None:
    held = hold(shop)
    # Pay sends the customer to Stripe's hosted page, with our amount and our return pages
    pressed = press_pay(client, held)
    assert pressed.status_code == 302
    assert pressed.url.startswith(f"{fake.url}/pay/cs_test_")
    (created,) = fake.calls("POST", "/v1/checkout/sessions")
    payment = Payment.objects.get()
    assert created["line_items"]["0"]["price_data"] == {
        "currency": "eur",
        "unit_amount": "5000",
        "product_data": {"name": f"{shop['service'].name}, {shop['service'].provider.business_name}"},
    }
    assert created["client_reference_id"] == str(payment.pk)
    assert created["success_url"] == f"http://testserver/appointments/{held.pk}/pay/return/"
    assert int(created["expires_at"]) >= int((timezone.now() + timedelta(minutes=30)).timestamp())
    assert "card" not in str(created)
    # Coming back before the webhook: "confirming…", nothing booked on the redirect's word
    session_id = pressed.url.rsplit("/", 1)[-1]
    event = fake.pay(session_id)
    assert "Confirming your payment" in client.get(f"/appointments/{held.pk}/pay/return/").content.decode()
    assert Appointment.objects.get().status == AppointmentStatus.HELD
    # The webhook: confirmed, once
    assert deliver(client, fake, event).json()["outcome"] == "succeeded"
    assert deliver(client, fake, event).json()["outcome"] == "duplicate"
    payment.refresh_from_db()
    assert (payment.status, payment.gateway, payment.gateway_ref) == (
        PaymentStatus.SUCCEEDED,
        "stripe",
        fake.sessions[session_id]["payment_intent"],
    )
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert client.get(f"/appointments/{held.pk}/pay/return/").url == f"/appointments/{held.pk}/?booked=1"


def test_a_webhook_not_signed_with_our_secret_changes_nothing(
    client: Client, fake: FakeStripe, shop: dict[str, Any]
) -> None:
    held = hold(shop)
    event = fake.pay(open_session(client, held))
    assert deliver(client, fake, event, secret="whsec_attacker").status_code == 400
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert Appointment.objects.get().status == AppointmentStatus.HELD


def test_a_lapsed_hold_expires_its_stripe_session(
    client: Client, fake: FakeStripe, shop: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    held = hold(shop)
    session_id = open_session(client, held)
    frozen_now.shift(timedelta(minutes=13))
    assert holds_expire() == 1
    outbox_drain()
    assert len(fake.calls("POST", f"/v1/checkout/sessions/{session_id}/expire")) == 1
    assert fake.sessions[session_id]["status"] == "expired"
    assert Payment.objects.get().status == PaymentStatus.FAILED
    # Stripe's own "expired" event afterwards changes nothing
    assert deliver(client, fake, fake.events[-1]).json()["outcome"] == "no change (failed)"
    assert is_offered(shop["slot"])


def test_paid_at_the_last_moment_while_the_hold_lapsed_books_the_time_still_free(
    client: Client, fake: FakeStripe, shop: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    held = hold(shop)
    session_id = open_session(client, held)
    fake.pay(session_id)  # ... and its webhook is slow
    frozen_now.shift(timedelta(minutes=13))
    holds_expire()
    outbox_drain()  # our expire call finds the session paid: Stripe refuses, we ask and record
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert not fake.calls("POST", "/v1/refunds")
    assert deliver(client, fake, fake.events[-1]).json()["outcome"] == "no change (succeeded)"


def test_paid_after_the_hold_lapsed_and_the_time_went_is_refunded_through_stripe(
    client: Client, fake: FakeStripe, shop: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    held = hold(shop)
    session_id = open_session(client, held)
    frozen_now.shift(timedelta(minutes=13))
    holds_expire()
    appointment_hold(customer=UserFactory(), slot_id=shop["slot"].pk, idempotency_key=str(uuid.uuid4()))
    event = fake.pay(session_id)  # Stripe completed it before our expire call arrived
    assert deliver(client, fake, event).json()["outcome"] == "succeeded"
    outbox_drain()
    (refund,) = fake.refunds.values()
    assert (refund["amount"], refund["payment_intent"]) == (5000, fake.sessions[session_id]["payment_intent"])
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    assert Appointment.objects.get(pk=held.pk).status == AppointmentStatus.EXPIRED


def test_a_network_error_then_success_opens_one_session(client: Client, fake: FakeStripe, shop: dict[str, Any]) -> None:
    held = hold(shop)
    fake.fail("POST", "/v1/checkout/sessions", 503)
    first = press_pay(client, held)
    assert first.status_code == 503
    assert "You have not been charged" in first.content.decode()
    second = press_pay(client, held)
    assert second.status_code == 302
    assert second.url.startswith(f"{fake.url}/pay/")
    assert len(fake.sessions) == 1
    assert Payment.objects.count() == 1
    # The same page again on a third press: Stripe is not asked for another
    assert press_pay(client, held).url == second.url
    assert len(fake.sessions) == 1


def test_a_refund_failing_at_stripe_is_retried_with_its_key_and_never_doubled(
    client: Client, fake: FakeStripe, shop: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    held = hold(shop)
    deliver(client, fake, fake.pay(open_session(client, held)))
    fake.fail("POST", "/v1/refunds", 500)
    appointment_cancel_by_customer(appointment=Appointment.objects.get(), customer=shop["customer"])
    outbox_drain()
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.PENDING
    assert "fake failure 500" in refund.last_error
    frozen_now.shift(timedelta(minutes=5))
    outbox_drain()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert len(fake.refunds) == 1
    keys = {c["metadata"]["refund_key"] for c in fake.calls("POST", "/v1/refunds")}
    assert keys == {refund.idempotency_key}


def test_reconciliation_against_stripe_finds_an_injected_difference(
    client: Client, fake: FakeStripe, shop: dict[str, Any]
) -> None:
    held = hold(shop)
    deliver(client, fake, fake.pay(open_session(client, held)))
    call_command("reconcile_payments", "--days", "1", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ReconciliationRun.objects.get().differences == []
    # A payment taken at Stripe that the ledger has no row for
    stray = stray_checkout(StripeGateway())
    fake.pay(stray.id)
    with pytest.raises(SystemExit):
        call_command("reconcile_payments", "--days", "1", stdout=open("/dev/null", "w"))  # noqa: SIM115
    latest = ReconciliationRun.objects.order_by("-id").first()
    assert latest is not None
    # ... and its completion event, which never reached our webhook
    assert [d["kind"] for d in latest.differences] == ["missed event", "unknown payment"]


def test_the_stripe_gateway_refuses_to_start_without_its_keys(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        StripeGateway()


def test_the_pay_page_under_stripe_never_shows_a_card_field(
    client: Client, fake: FakeStripe, shop: dict[str, Any]
) -> None:
    held = hold(shop)
    page = client.get(f"/appointments/{held.pk}/pay/").content.decode()
    assert "card_number" not in page
    assert "js.stripe.com" not in page
    assert 'name="payment_key"' in page


def test_a_declined_payment_keeps_the_hold_and_pay_opens_a_new_page(
    client: Client, fake: FakeStripe, shop: dict[str, Any]
) -> None:
    # Stripe's page handles card declines itself (the customer tries again there); a delayed
    # payment method that the bank refuses later arrives as async_payment_failed
    held = hold(shop)
    session_id = open_session(client, held)
    failed = fake._event("checkout.session.async_payment_failed", fake.sessions[session_id])
    assert deliver(client, fake, failed).json()["outcome"] == "declined"
    assert Appointment.objects.get().status == AppointmentStatus.HELD
    assert held.events.filter(kind="payment_failed").exists()
    page = client.get(f"/appointments/{held.pk}/pay/").content.decode()
    assert "Your bank declined the payment. You have not been charged" in page
    assert open_session(client, held) != session_id
    assert len(fake.sessions) == 2
