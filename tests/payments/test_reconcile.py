"""Reconciliation: the ledger against the gateway. A clean ledger has no differences; an
injected one (a charge the ledger calls failed, a charge it has no row for, a refund the gateway
never made) is printed, stored for the admin, and makes the command exit non-zero."""

from __future__ import annotations

from datetime import date
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from bookings.services import appointment_cancel_by_customer
from outbox.models import Job
from outbox.services import outbox_drain
from payments.gateways import SandboxGateway, get_gateway
from payments.models import (
    Payment,
    PaymentStatus,
    Payout,
    PayoutStatus,
    ReconciliationRun,
    Refund,
    RefundStatus,
)
from payments.tasks import reconcile_task
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed
from tests.payments.conftest import stray_checkout

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("reconcile_payments", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def ledger(frozen_now: Any) -> dict[str, Any]:
    """Two paid bookings; one cancelled early by its customer (full refund, executed)."""
    service = ServiceFactory(price_minor=4000)
    customer = UserFactory()
    slots = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")
    kept, cancelled = book_confirmed(customer, slots[0]), book_confirmed(customer, slots[1])
    appointment_cancel_by_customer(appointment=cancelled, customer=customer)
    outbox_drain()
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    return {"kept": kept, "cancelled": cancelled}


def test_a_clean_ledger_has_no_differences(ledger: dict[str, Any]) -> None:
    code, out = run("--since", "2026-11-01")
    assert code == 0
    assert "Checked 3 payments and refunds since 2026-11-01 00:00 UTC: 0 differences." in out
    assert ReconciliationRun.objects.get().differences == []


def test_injected_differences_are_printed_stored_and_fail_the_run(ledger: dict[str, Any]) -> None:
    # A charge the ledger calls failed, though the gateway took the money
    paid = Payment.objects.get(reference=str(ledger["kept"].pk))
    Payment.objects.filter(pk=paid.pk).update(status=PaymentStatus.FAILED)
    # A payment the gateway took on a page the ledger has no row for
    stray = stray_checkout(get_gateway(), 999)
    assert SandboxGateway().pay(stray.id, "4242424242424242") == ""
    # A refund the ledger calls done that the gateway never made
    ghost = Refund.objects.create(
        payment=paid,
        payee=paid.payee,
        amount_minor=100,
        currency="EUR",
        reason="test",
        status=RefundStatus.SUCCEEDED,
        idempotency_key="refund-never-sent",
    )
    # A payout the ledger calls transferred that the gateway never made
    ghost_payout = Payout.objects.create(
        recipient=ledger["kept"].provider.user,
        payee=str(ledger["kept"].provider_id),
        amount_minor=100,
        currency="EUR",
        status=PayoutStatus.TRANSFERRED,
        gateway_ref="tr_never_made",
        idempotency_key="payout-never-made",
    )
    code, out = run("--days", "30")
    assert code == 1
    assert f"payment {paid.pk}: ledger says failed, gateway says succeeded" in out
    assert f"unknown payment {stray.id}: ledger says nothing, gateway says succeeded" in out
    assert f"refund {ghost.pk}: ledger says succeeded, gateway says nothing" in out
    assert f"payout {ghost_payout.pk}: ledger says transferred, gateway says nothing" in out
    # the stray payment's completion event never reached our webhook either
    assert "missed event evt_sandbox_" in out
    assert "5 differences." in out
    stored = ReconciliationRun.objects.get()
    assert {d["kind"] for d in stored.differences} == {"payment", "unknown payment", "refund", "payout", "missed event"}


def test_beat_queues_one_reconciliation_a_day_and_the_worker_runs_it(ledger: dict[str, Any]) -> None:
    reconcile_task()
    reconcile_task()  # a beat that fires twice adds nothing
    assert Job.objects.filter(kind="payments.reconcile").count() == 1
    outbox_drain()
    assert ReconciliationRun.objects.get().checked == 3


def test_a_bad_since_is_refused_clearly(db: None) -> None:
    with pytest.raises(CommandError, match="is not a date like 2026-11-01"):
        call_command("reconcile_payments", "--since", "yesterday", stdout=StringIO())
