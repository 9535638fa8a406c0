"""What one booking costs the database, counted exactly: the service layer's hold + pay (with
the real Stripe client against the fake, so the gateway is HTTP and every query is ours), and
each request of the browser flow (with the sandbox gateway, as the demo and the benchmark run).

Real transactions (`transaction=True`): the counts are what production sends, without the
savepoints a test's wrapping transaction would add."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings.models import Appointment, AppointmentStatus
from bookings.services import appointment_checkout, appointment_hold
from notifications.models import Message
from outbox.models import Job
from payments.models import Payment, PaymentStatus, WebhookEvent
from payments.webhooks import webhook_receive
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, deliver_webhooks, hidden_fields, path_of
from tests.payments.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db(transaction=True)

# SQLite sends one by one the writes that PostgreSQL gets as one statement (ADR 0028): two more
# for the hold (the claim, the events) and two for the webhook (the events, the send jobs).
APART = 0 if connection.vendor == "postgresql" else 2
# hold: lock the customer; their live holds and the form's key (one query); lock the provider
# through the offer; lock the offer with its service; is it bookable (the one definition);
# the appointment, its time claim and its two events (one statement, ADR 0028).
HOLD = 6 + APART
# pay: lock the appointment (both people's notification preferences along); the payment,
# unless a key is taken (INSERT ... ON CONFLICT DO NOTHING RETURNING); remember the gateway's page.
PAY = 3
# webhook: mark the page's payment paid, locking it (UPDATE ... RETURNING); lock the provider;
# lock the appointment (preferences along); confirm it with its two events (one statement); the
# messages whose key is new with the jobs that send them (one statement); the event's row.
WEBHOOK = 6 + APART


@pytest.fixture
def slot(frozen_now: object) -> Slot:
    service = ServiceFactory(price_minor=4500, min_notice_minutes=60)
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]


@pytest.fixture(autouse=True)
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queued jobs wait: the test's eager Celery would otherwise drain them right after each
    commit, inside the counted window."""
    monkeypatch.setattr("outbox.services._wake_workers", lambda: None)


def counted(fn: Any) -> tuple[Any, list[str]]:
    """The statements `fn` sent to the database, transaction control (BEGIN, COMMIT) aside."""
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    return result, [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] not in ("BEGIN", "COMMIT")]


def test_hold_and_pay_cost_15_queries_on_postgresql_in_the_service_layer(fake: FakeStripe, slot: Slot) -> None:
    # Given a customer (who wants an SMS as well) and a bookable time
    customer = UserFactory(email="casey@example.com")
    # When they hold it, pay on the gateway's page and the gateway's webhook arrives
    held, hold = counted(lambda: appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key="k-1"))
    checkout, pay = counted(
        lambda: appointment_checkout(
            appointment=held,
            customer=customer,
            payment_key="p-1",
            success_url="http://testserver/back",
            cancel_url="http://testserver/cancel",
        )
    )
    assert checkout.payment is not None
    body, signature = fake.signed(fake.pay(checkout.payment.checkout_session_id))
    outcome, webhook = counted(lambda: webhook_receive(payload=body.encode(), signature=signature))
    # Then it is booked, paid, and both people are told
    assert outcome == PaymentStatus.SUCCEEDED
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CONFIRMED
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert Message.objects.filter(reference=str(held.pk)).count() == 4  # in-app + email, each of two
    assert Job.objects.filter(kind="notifications.send").count() == 2
    # ... for this many queries, no savepoint among them
    assert (len(hold), len(pay), len(webhook)) == (HOLD, PAY, WEBHOOK), (hold, pay, webhook)
    assert HOLD + PAY + WEBHOOK == 15 + 2 * APART
    assert not [q for q in hold + pay + webhook if "SAVEPOINT" in q]


def test_a_replayed_webhook_changes_nothing_and_costs_no_more(fake: FakeStripe, slot: Slot) -> None:
    # Given a booking paid and confirmed by its webhook
    customer = UserFactory(email="casey@example.com")
    held = appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key="k-1")
    checkout = appointment_checkout(
        appointment=held, customer=customer, payment_key="p-1", success_url="http://t/b", cancel_url="http://t/c"
    )
    assert checkout.payment is not None
    body, signature = fake.signed(fake.pay(checkout.payment.checkout_session_id))
    assert webhook_receive(payload=body.encode(), signature=signature) == PaymentStatus.SUCCEEDED
    before = (Message.objects.count(), Job.objects.count(), WebhookEvent.objects.count())
    # When the gateway delivers the same event again
    outcome, replay = counted(lambda: webhook_receive(payload=body.encode(), signature=signature))
    # Then it is a duplicate: nothing new, nothing sent twice
    assert outcome == "duplicate"
    assert (Message.objects.count(), Job.objects.count(), WebhookEvent.objects.count()) == before
    assert len(replay) <= WEBHOOK


# Each request of the browser flow (the session and the user are two of each signed-in request).
FLOW = {
    "GET confirm": 6,
    "POST hold": 10 + APART,
    "GET pay": 5,
    "POST pay": 9,
    "GET hosted page": 4,
    "POST card": 8,
    "webhook": 8 + APART,
    "GET return": 5,
}


def test_each_request_of_the_browser_flow_costs_what_it_did(client: Client, slot: Slot) -> None:
    client.force_login(UserFactory(email="casey@example.com"))
    seen: dict[str, int] = {}

    def step(name: str, fn: Any) -> Any:
        answer, queries = counted(fn)
        seen[name] = len(queries)
        return answer

    page = step("GET confirm", lambda: client.get(f"/book/{slot.pk}/"))
    step("POST hold", lambda: client.post(f"/book/{slot.pk}/", hidden_fields(page.content.decode())))
    appointment = Appointment.objects.get()
    page = step("GET pay", lambda: client.get(f"/appointments/{appointment.pk}/pay/"))
    key = re.search(r'name="payment_key" value="([^"]+)"', page.content.decode())
    assert key
    pressed = step("POST pay", lambda: client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": key[1]}))
    step("GET hosted page", lambda: client.get(path_of(pressed.url)))
    paid = step("POST card", lambda: client.post(path_of(pressed.url), {"card_number": "4242424242424242"}))
    step("webhook", lambda: deliver_webhooks(client))
    done = step("GET return", lambda: client.get(path_of(paid.url)))
    assert done.status_code == 302
    assert done.url.endswith("?booked=1")
    assert seen == FLOW, seen
