"""Paying providers out: settled payments (appointment over, or cancelled) less refunds and the
platform fee become one payout per provider and currency; a job transfers it once, however often
it runs; a refund after a payout comes off the next one; a failure is visible, never dropped."""

from __future__ import annotations

import threading
import uuid
from datetime import date
from typing import Any

import pytest
from django.db import connection

from bookings.services import appointment_cancel_by_customer
from notifications.models import Message
from outbox.services import outbox_drain
from payments.models import Payment, Payout, PayoutStatus, Refund, SandboxOperation
from payments.payouts import payout_dead, payout_transfer, payouts_create
from payments.services import refund_create
from payments.tasks import payouts_task
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, payouts_ready

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(frozen_now: Any, settings: Any) -> dict[str, Any]:
    """€40.00 bookings on Monday 30 Nov: one attended by Tuesday, one cancelled early (full
    refund), one still ahead on Tuesday 1 Dec; the platform keeps 5 %."""
    settings.PLATFORM_FEE_PERCENT = 5
    service = ServiceFactory(price_minor=4000)
    customer = UserFactory()
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[:2])
    later = Slot.objects.filter(service=service, slot_date=date(2026, 12, 2)).order_by("start").first()
    payouts_ready(service.provider)
    done, cancelled, ahead = (book_confirmed(customer, s) for s in (*monday, later))
    appointment_cancel_by_customer(appointment=cancelled, customer=customer)
    outbox_drain()  # the refund goes through
    frozen_now.move_to("2026-12-01 10:00:00+00:00")
    return {"service": service, "customer": customer, "done": done, "cancelled": cancelled, "ahead": ahead}


def test_settled_earnings_less_refunds_and_fee_are_paid_out_once(shop: dict[str, Any]) -> None:
    provider = shop["service"].provider
    [payout] = payouts_create()
    # €40 attended + €40 cancelled - €40 refunded = €40 net; 5 % fee = €2; €38 to the provider
    assert (payout.amount_minor, payout.fee_minor, payout.status) == (3800, 200, PayoutStatus.PENDING)
    assert payout.recipient == provider.user
    paid_out = set(Payment.objects.filter(payout=payout).values_list("reference", flat=True))
    assert paid_out == {str(shop["done"].pk), str(shop["cancelled"].pk)}
    assert Refund.objects.get().payout == payout
    # Running again pays nothing twice
    assert payouts_create() == []
    # The job transfers it and the provider is told, with the Payouts page linked
    outbox_drain()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED
    assert payout.gateway_ref.startswith("tr_")
    assert SandboxOperation.objects.filter(kind="transfer").count() == 1
    told = Message.objects.get(recipient=provider.user, event="funds_transferred", channel="email")
    assert "€38.00" in told.body
    assert "/dashboard/payouts" in told.body


def test_a_refund_after_the_payout_comes_off_the_next_one(shop: dict[str, Any], frozen_now: Any) -> None:
    [first] = payouts_create()
    outbox_drain()
    # A goodwill refund of €10.00 on the attended (already paid out) booking
    paid = Payment.objects.get(reference=str(shop["done"].pk))
    refund_create(payment=paid, amount_minor=1000, reason="Goodwill", idempotency_key="goodwill-1")
    outbox_drain()
    # The next run, once the Wednesday booking is over: €40 - €10 = €30 net, fee €1.50 → €28.50
    frozen_now.move_to("2026-12-03 10:00:00+00:00")
    [second] = payouts_create()
    assert (second.amount_minor, second.fee_minor) == (2850, 150)
    assert Refund.objects.get(idempotency_key="goodwill-1").payout == second
    assert first.pk != second.pk


def test_a_balance_refunds_took_below_zero_is_carried(shop: dict[str, Any], frozen_now: Any) -> None:
    assert len(payouts_create()) == 1
    outbox_drain()
    paid = Payment.objects.get(reference=str(shop["done"].pk))
    refund_create(payment=paid, amount_minor=4000, reason="Redo", idempotency_key="redo-1")
    outbox_drain()
    # Nothing new is settled yet: -€40 is not paid out, and stays for the next run
    assert payouts_create() == []
    assert Refund.objects.get(idempotency_key="redo-1").payout is None
    frozen_now.move_to("2026-12-03 10:00:00+00:00")
    assert payouts_create() == []  # €40 new - €40 refunded: still nothing to pay
    assert Refund.objects.get(idempotency_key="redo-1").payout is None


def test_a_failed_transfer_is_retried_and_one_the_queue_gives_up_on_is_marked_failed(
    shop: dict[str, Any], monkeypatch: Any
) -> None:
    from payments.gateways import SandboxGateway, TransientGatewayError

    [payout] = payouts_create()
    real = SandboxGateway.transfer
    calls: list[int] = []

    def flaky(self: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise TransientGatewayError("The transfer service is temporarily unavailable.")
        return real(self, **kwargs)

    monkeypatch.setattr(SandboxGateway, "transfer", flaky)
    with pytest.raises(TransientGatewayError):
        payout_transfer(payout_id=str(payout.pk))
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (PayoutStatus.PENDING, 1)
    assert "temporarily unavailable" in payout.last_error
    payout_transfer(payout_id=str(payout.pk))
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (PayoutStatus.TRANSFERRED, 2)
    # A payout the queue gave up on is failed and says why (the admin lists it)
    other = Payout.objects.create(
        recipient=payout.recipient,
        payee=payout.payee,
        amount_minor=100,
        currency="EUR",
        status=PayoutStatus.PENDING,
        idempotency_key=f"payout-{uuid.uuid4()}",
    )
    payout_dead(payout_id=str(other.pk), error="gave up after 6 attempts")
    other.refresh_from_db()
    assert (other.status, other.last_error) == (PayoutStatus.FAILED, "gave up after 6 attempts")


def test_beat_queues_one_run_a_day(shop: dict[str, Any]) -> None:
    payouts_task()
    payouts_task()
    outbox_drain()
    assert Payout.objects.count() == 1
    assert Payout.objects.get().status == PayoutStatus.TRANSFERRED


def test_the_payouts_page_lists_status_and_fee(client: Any, shop: dict[str, Any]) -> None:
    payouts_create()
    client.force_login(shop["service"].provider.user)
    page = client.get("/dashboard/payouts").content.decode()
    assert "<strong>€38.00</strong>" in page
    assert "Being transferred" in page
    assert "fee €2.00" in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_transferring_one_payout_move_the_money_once(frozen_now: Any, settings: Any) -> None:
    settings.PLATFORM_FEE_PERCENT = 5
    service = ServiceFactory(price_minor=4000)
    payouts_ready(service.provider)
    book_confirmed(UserFactory(), Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    frozen_now.move_to("2026-12-01 10:00:00+00:00")
    [payout] = payouts_create()
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def worker() -> None:
        try:
            barrier.wait()
            payout_transfer(payout_id=str(payout.pk))
        except Exception as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED
    [operation] = SandboxOperation.objects.filter(kind="transfer")
    assert operation.result == {"succeeded": True, "gateway_ref": payout.gateway_ref, "message": ""}
    assert Message.objects.filter(event="funds_transferred", channel="in_app").count() == 1
    assert payout.attempts >= 1
