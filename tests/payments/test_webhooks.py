"""The gateway's webhook moves the ledger, once per event, whatever the order; the return page
waits for it ("confirming…") through a poll."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from bookings.services import appointment_hold
from payments.gateways import SandboxGateway, sign_payload
from payments.models import Payment, PaymentStatus, SandboxEvent, WebhookEvent
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, deliver_webhooks, path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(frozen_now: object, client: Client) -> Any:
    service = ServiceFactory(price_minor=3000)
    customer = UserFactory()
    client.force_login(customer)
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    return appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))


def press_pay_and_pay(client: Client, appointment: Any, card: str = "4242424242424242") -> str:
    """Pay pressed, card typed on the hosted page; returns where the page sends the customer."""
    pressed = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    back = client.post(path_of(pressed.url), {"card_number": card})
    return path_of(back.url)


def post_event(client: Client, payload: dict[str, Any], secret: str | None = None) -> Any:
    body = json.dumps(payload)
    signature = sign_payload(body, secret or settings.SANDBOX_WEBHOOK_SECRET)
    return client.post("/payments/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def test_a_bad_signature_is_400_and_changes_nothing(client: Client, held: Any) -> None:
    press_pay_and_pay(client, held)
    event = SandboxEvent.objects.get(type="checkout.session.completed")
    forged = post_event(client, event.payload, secret="whsec_someone_else")
    assert forged.status_code == 400
    assert forged.json()["code"] == "bad_signature"
    unsigned = client.post("/payments/webhook", json.dumps(event.payload), content_type="application/json")
    assert unsigned.status_code == 400
    # A signed body that was altered after signing is refused too
    body = json.dumps(event.payload)
    signature = sign_payload(body, settings.SANDBOX_WEBHOOK_SECRET)
    altered = body.replace('"amount_total": 3000', '"amount_total": 1')
    tampered = client.post(
        "/payments/webhook", altered, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert tampered.status_code == 400
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert Appointment.objects.get().status == AppointmentStatus.HELD
    assert not WebhookEvent.objects.exists()


def test_replays_duplicates_and_out_of_order_events_reach_the_same_final_state(client: Client, held: Any) -> None:
    press_pay_and_pay(client, held)
    completed = SandboxEvent.objects.get(type="checkout.session.completed").payload
    # An "expired" event for the same page arriving after the completion (out of order)
    expired = {**completed, "id": "evt_late_expiry", "type": "checkout.session.expired"}
    expired["data"] = {"object": {**completed["data"]["object"], "status": "expired", "payment_status": "unpaid"}}
    answers = [post_event(client, e).json()["outcome"] for e in (completed, completed, expired, completed)]
    assert answers == ["succeeded", "duplicate", "no change (succeeded)", "duplicate"]
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert held.events.filter(kind="confirmed").count() == 1


def test_the_expiry_heard_first_then_the_payment_still_books(client: Client, held: Any) -> None:
    press_pay_and_pay(client, held)
    completed = SandboxEvent.objects.get(type="checkout.session.completed").payload
    expired = {**completed, "id": "evt_early_expiry", "type": "checkout.session.expired"}
    expired["data"] = {"object": {**completed["data"]["object"], "status": "expired", "payment_status": "unpaid"}}
    assert post_event(client, expired).json()["outcome"] == "failed"
    assert post_event(client, completed).json()["outcome"] == "succeeded"
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED


def test_an_amount_that_differs_from_the_ledger_confirms_nothing(client: Client, held: Any) -> None:
    press_pay_and_pay(client, held)
    completed = SandboxEvent.objects.get(type="checkout.session.completed").payload
    completed["data"]["object"]["amount_total"] = 1
    assert "amount differs" in post_event(client, completed).json()["outcome"]
    assert Appointment.objects.get().status == AppointmentStatus.HELD


def test_the_return_page_says_confirming_until_the_webhook_then_moves_on(client: Client, held: Any) -> None:
    back = press_pay_and_pay(client, held)
    page = client.get(back)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Confirming your payment" in body
    assert f'hx-get="/appointments/{held.pk}/pay/status?since=' in body
    since = int(time.time())
    # Nothing yet: 204, nothing to swap
    quiet = client.get(f"/appointments/{held.pk}/pay/status?since={since}", headers={"HX-Request": "true"})
    assert quiet.status_code == 204
    assert "HX-Redirect" not in quiet
    # The webhook arrives: the next poll sends the page to the booking
    deliver_webhooks(client)
    done = client.get(f"/appointments/{held.pk}/pay/status?since={since}", headers={"HX-Request": "true"})
    assert done["HX-Redirect"] == f"/appointments/{held.pk}/?booked=1"
    assert client.get(back).url == f"/appointments/{held.pk}/?booked=1"


def test_a_slow_confirmation_says_so_and_stops_polling(client: Client, held: Any) -> None:
    press_pay_and_pay(client, held)
    long_ago = int(time.time()) - settings.PAYMENT_CONFIRM_WAIT_SECONDS - 1
    slow = client.get(f"/appointments/{held.pk}/pay/status?since={long_ago}", headers={"HX-Request": "true"})
    assert slow.status_code == 200
    body = slow.content.decode()
    assert "taking longer than usual" in body
    assert "hx-trigger" not in body  # the replacement does not poll
    # Another customer can't read the state of this payment
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(f"/appointments/{held.pk}/pay/status?since=0").status_code == 404
    assert stranger.get(f"/appointments/{held.pk}/pay/return/").status_code == 404


def test_the_hosted_page_of_an_expired_session_says_so(client: Client, held: Any) -> None:
    pressed = client.post(f"/appointments/{held.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    SandboxGateway().checkout_expire(Payment.objects.get().checkout_session_id)
    page = client.get(path_of(pressed.url))
    assert page.status_code == 410
    assert "This payment page has expired. Nothing was charged." in page.content.decode()
    deliver_webhooks(client)
    assert Payment.objects.get().status == PaymentStatus.FAILED
    # Our pay page says what happened, and Pay opens a new page
    assert "closed before a payment was made" in client.get(f"/appointments/{held.pk}/pay/").content.decode()
    again = client.post(f"/appointments/{held.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    assert path_of(again.url) != path_of(pressed.url)
