"""Reconciliation: the ledger (payments and refunds) compared with what the gateway says it
did. Every difference is a line an operator must look at: money taken that the ledger does not
show as paid (or does not know at all), a payment or refund the ledger calls done that the
gateway never made, or a different outcome on each side."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from payments.gateways import get_gateway
from payments.models import Payment, PaymentStatus, ReconciliationRun, Refund, RefundStatus


@dataclass(frozen=True)
class Difference:
    kind: str  # payment / refund / unknown charge
    ref: str  # our row's id, or the gateway's idempotency key for an unknown charge
    ledger: str
    gateway: str

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}: ledger says {self.ledger}, gateway says {self.gateway}"


def _said(result: object) -> str:
    if result is None:
        return "nothing"
    return "succeeded" if getattr(result, "succeeded", False) else "failed"


def _ledger(status: str, succeeded: str, failed: str) -> str:
    return "succeeded" if status == succeeded else "failed" if status == failed else "pending"


def payments_reconcile(*, since: datetime) -> ReconciliationRun:
    """Compare every payment and refund created since `since` with the gateway, and look for
    gateway charges the ledger has no row for; the run and its differences are stored."""
    gateway = get_gateway()
    differences: list[Difference] = []
    checked = 0
    for payment in Payment.objects.filter(created_at__gte=since).order_by("created_at"):
        checked += 1
        result = gateway.charge_status(idempotency_key=payment.idempotency_key)
        ledger = _ledger(payment.status, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)
        if ledger == "pending" and result is None:
            continue  # still under way (the stale-payment sweep finishes it)
        if ledger != _said(result) or (
            result is not None and result.succeeded and result.gateway_ref != payment.gateway_ref
        ):
            differences.append(Difference("payment", str(payment.pk), ledger, _said(result)))
    for refund in Refund.objects.filter(created_at__gte=since).order_by("created_at"):
        checked += 1
        result = gateway.refund_status(idempotency_key=refund.idempotency_key)
        ledger = _ledger(refund.status, RefundStatus.SUCCEEDED, RefundStatus.FAILED)
        if ledger == "pending" and result is None:
            continue  # queued, or being retried
        if ledger != _said(result):
            differences.append(Difference("refund", str(refund.pk), ledger, _said(result)))
    known = set(Payment.objects.filter(created_at__gte=since).values_list("idempotency_key", flat=True))
    for key, result in gateway.charges_since(since):
        if result.succeeded and key not in known and not Payment.objects.filter(idempotency_key=key).exists():
            differences.append(Difference("unknown charge", key, "nothing", "succeeded"))
    return ReconciliationRun.objects.create(
        since=since, checked=checked, differences=[asdict(d) | {"text": str(d)} for d in differences]
    )
