"""Each customer's totals as PostgreSQL keeps them (docs/adr/0027): the account page's cards
read a row per customer and currency instead of the whole history, and the row always equals
the sum over the ledger it stands for.

The hypothesis state machine (test_state_machine.py) holds the two equal after every step of
every interleaving of the booking domain; these tests name each change of the ledger, the
lock the totals take, and the page that reads them.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, transaction

from bookings.models import Appointment, AppointmentStatus, CustomerAttendance
from bookings.selectors import AccountSummary, account_summary, account_summary_counted
from payments.models import CustomerTotal, Payment, PaymentStatus, Refund, RefundStatus
from payments.services import refund_create, refund_dead, refund_execute, refund_requeue
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.postgres


def kept(customer: Any) -> AccountSummary:
    """The cards as the page reads them, after checking they equal their definition."""
    summary = account_summary(customer=customer, next_appointment=None)
    assert summary == account_summary_counted(customer=customer)
    return summary


def money(summary: AccountSummary) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    return summary.spent_minor, summary.refunds_pending_minor, summary.refunds_received_minor


def payment_of(appointment: Any) -> Payment:
    return Payment.objects.get(reference=str(appointment.pk), status=PaymentStatus.SUCCEEDED)


@pytest.mark.django_db
def test_kept_totals_follow_every_change_of_the_ledger(frozen_now: object) -> None:
    # Given two customers with paid bookings through the real services (€40 each)
    service = ServiceFactory(price_minor=4000)
    customer, other = UserFactory(), UserFactory()
    slots = list(Slot.objects.filter(service=service).order_by("start")[:3])
    first, second = book_confirmed(customer, slots[0]), book_confirmed(customer, slots[1])
    book_confirmed(other, slots[2])
    assert money(kept(customer)) == ({"EUR": 8000}, {}, {})
    assert kept(customer).upcoming == 2
    # When a refund of the first is recorded, it is on its way ...
    refund = refund_create(payment=payment_of(first), amount_minor=4000, reason="test", idempotency_key="r-1")
    assert refund is not None
    assert money(kept(customer)) == ({"EUR": 8000}, {"EUR": 4000}, {})
    # ... and once the gateway sent it, received and no longer spent
    refund_execute(refund_id=str(refund.pk))
    assert money(kept(customer)) == ({"EUR": 4000}, {}, {"EUR": 4000})
    # When a refund of the second fails for good it is neither; retried, it is on its way again
    again = refund_create(payment=payment_of(second), amount_minor=1000, reason="test", idempotency_key="r-2")
    assert again is not None
    refund_dead(refund_id=str(again.pk), error="gateway down")
    assert money(kept(customer)) == ({"EUR": 4000}, {}, {"EUR": 4000})
    refund_requeue(refund=Refund.objects.get(pk=again.pk))
    assert money(kept(customer)) == ({"EUR": 4000}, {"EUR": 1000}, {"EUR": 4000})
    # When a payment in another currency goes through, and one that fails
    Payment.objects.create(
        reference=str(uuid.uuid4()), customer=customer, amount_minor=2500, currency="USD",
        status=PaymentStatus.PENDING, idempotency_key="p-usd", gateway="sandbox",
    )  # fmt: skip
    assert money(kept(customer)) == ({"EUR": 4000}, {"EUR": 1000}, {"EUR": 4000})
    Payment.objects.filter(idempotency_key="p-usd").update(status=PaymentStatus.SUCCEEDED)
    assert money(kept(customer)) == ({"EUR": 4000, "USD": 2500}, {"EUR": 1000}, {"EUR": 4000})
    Payment.objects.filter(idempotency_key="p-usd").update(status=PaymentStatus.FAILED)
    # When the second is marked attended, then corrected to a no-show
    Appointment.objects.filter(pk=second.pk).update(status=AppointmentStatus.COMPLETED)
    assert (kept(customer).attended, kept(customer).upcoming) == (1, 1)  # the first is still booked
    Appointment.objects.filter(pk=second.pk).update(status=AppointmentStatus.NO_SHOW)
    # Then each change was added once, and the other customer's totals never moved
    assert money(kept(customer)) == ({"EUR": 4000}, {"EUR": 1000}, {"EUR": 4000})
    assert kept(customer).attended == 0
    assert money(kept(other)) == ({"EUR": 4000}, {}, {})
    assert dict(CustomerTotal.objects.filter(customer=customer).values_list("currency", "paid_minor")) == {
        "EUR": 8000,
        "USD": 0,
    }
    assert CustomerAttendance.objects.get(customer=customer).attended == 0
    # ... and a refund or appointment deleted (an operator's repair) takes its share with it
    Refund.objects.filter(pk=again.pk).delete()
    assert money(kept(customer)) == ({"EUR": 4000}, {}, {"EUR": 4000})


@pytest.mark.django_db
def test_the_totals_are_rebuilt_from_the_ledger(frozen_now: object) -> None:
    # Given a customer's totals that a bulk load made with the triggers off left behind
    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.filter(service=ServiceFactory()).order_by("start")[0])
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.COMPLETED)
    CustomerTotal.objects.filter(customer=customer).update(paid_minor=1)
    CustomerAttendance.objects.filter(customer=customer).delete()
    # When they are rebuilt (what the migration did once, and the benchmarks after their loads)
    with connection.cursor() as cursor:
        cursor.execute("SELECT payments_customertotal_rebuild(), bookings_customerattendance_rebuild()")
    # Then they are the ledger's sums again
    summary = kept(customer)
    assert (summary.spent_minor, summary.attended) == ({"EUR": appointment.price_minor}, 1)


@pytest.mark.django_db(transaction=True)
def test_a_customers_totals_are_locked_only_at_commit() -> None:
    # Given a customer with a paid booking and a second payment still pending (committed)
    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.filter(service=ServiceFactory()).order_by("start")[0])
    paid = payment_of(appointment)
    pending = Payment.objects.create(
        reference=str(uuid.uuid4()), customer=customer, amount_minor=1500, currency=paid.currency,
        status=PaymentStatus.PENDING, idempotency_key="p-2", gateway="sandbox",
    )  # fmt: skip
    outcome: list[str] = []

    def refund_elsewhere() -> None:
        # a cancellation in another connection: it writes a refund for the same customer
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                refund_create(payment=paid, amount_minor=paid.amount_minor, reason="test", idempotency_key="r-x")
            outcome.append("committed")
        except Exception as exc:  # the failure is the finding
            outcome.append(repr(exc))
        finally:
            connection.close()

    # When one transaction records the pending payment as paid and, before it commits, the
    # other writes its refund and commits
    with transaction.atomic():
        assert Payment.objects.filter(pk=pending.pk).update(status=PaymentStatus.SUCCEEDED) == 1
        other = threading.Thread(target=refund_elsewhere)
        other.start()
        other.join(timeout=10)
        assert outcome == ["committed"]  # it never waited on this transaction's open change
    # Then both are counted, once each (the refund on its way, or received if its job ran yet)
    refund = Refund.objects.get()
    spent, on_its_way, received = money(kept(customer))
    back = paid.amount_minor if refund.status == RefundStatus.SUCCEEDED else 0
    assert (spent, received) == (
        {paid.currency: 1500 + paid.amount_minor - back},
        {paid.currency: back} if back else {},
    )
    assert on_its_way == ({} if back else {paid.currency: paid.amount_minor})


@pytest.mark.django_db
def test_the_account_page_shows_the_kept_totals(client: Any, frozen_now: object) -> None:
    # Given a customer whose cards come from the kept rows
    customer = UserFactory()
    client.force_login(customer)
    service = ServiceFactory(price_minor=4000)
    appointment = book_confirmed(customer, Slot.objects.filter(service=service).order_by("start")[0])
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.COMPLETED)
    # When the rows say something the ledger does not (only a test may write them)
    CustomerTotal.objects.filter(customer=customer).update(paid_minor=123456)
    CustomerAttendance.objects.filter(customer=customer).update(attended=7)
    body = client.get("/account/").content.decode()
    # Then the page shows the rows: it read them, not the history
    assert '<span class="label">Total spent</span><strong class="figure">€1,234.56</strong>' in body
    assert '<span class="label">Attended</span><strong class="figure">7</strong>' in body
