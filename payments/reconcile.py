"""Reconciliation: the ledger (payments and refunds) compared with what the gateway says it
did. Every difference is a line an operator must look at: money taken that the ledger does not
show as paid (or does not know at all), a payment or refund the ledger calls done that the
gateway never made, or a different outcome on each side."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from payments.gateways import TransientGatewayError, get_gateway
from payments.models import (
    Payment,
    PaymentStatus,
    Payout,
    PayoutStatus,
    ReconciliationRun,
    Refund,
    RefundStatus,
    WebhookEvent,
)

RECONCILED_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "account.updated",
}


@dataclass(frozen=True)
class Difference:
    kind: str  # payment / refund / payout / missed event / unknown payment
    ref: str  # our row's id, or the gateway's checkout session for an unknown payment
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
        ledger = _ledger(payment.status, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)
        if not payment.checkout_session_id:
            said = "nothing"  # its hosted page was never created: nothing can have been paid
        else:
            try:
                checkout = gateway.checkout_retrieve(payment.checkout_session_id)
            except TransientGatewayError:
                differences.append(Difference("payment", str(payment.pk), ledger, "no answer"))
                continue
            said = "succeeded" if checkout.paid else "failed" if checkout.status == "expired" else "pending"
            if checkout.paid and checkout.payment_ref != payment.gateway_ref and ledger == "succeeded":
                said = f"succeeded as {checkout.payment_ref}"
        if ledger == "pending" and said in ("pending", "nothing"):
            continue  # still under way (the stale-payment sweep finishes it)
        if ledger == "failed" and said == "nothing":
            continue
        if ledger != said:
            differences.append(Difference("payment", str(payment.pk), ledger, said))
    for refund in Refund.objects.filter(created_at__gte=since).select_related("payment").order_by("created_at"):
        checked += 1
        result = gateway.refund_status(payment_ref=refund.payment.gateway_ref, idempotency_key=refund.idempotency_key)
        ledger = _ledger(refund.status, RefundStatus.SUCCEEDED, RefundStatus.FAILED)
        if ledger == "pending" and result is None:
            continue  # queued, or being retried
        if ledger != _said(result):
            differences.append(Difference("refund", str(refund.pk), ledger, _said(result)))
    for payout in Payout.objects.filter(created_at__gte=since, status=PayoutStatus.TRANSFERRED).exclude(gateway_ref=""):
        checked += 1
        if gateway.transfer_status(payout.gateway_ref) is None:
            differences.append(Difference("payout", str(payout.pk), "transferred", "nothing"))
    # Events the gateway sent about money or accounts that never reached our webhook
    heard = set(
        WebhookEvent.objects.filter(received_at__gte=since - timedelta(days=1)).values_list("event_id", flat=True)
    )
    for event_id, kind in gateway.events_since(since):
        if kind in RECONCILED_EVENTS and event_id not in heard:
            differences.append(Difference("missed event", event_id, "nothing", kind))
    for checkout in gateway.checkouts_since(since):
        if not Payment.objects.filter(checkout_session_id=checkout.id).exists():
            differences.append(Difference("unknown payment", checkout.id, "nothing", "succeeded"))
    return ReconciliationRun.objects.create(
        since=since, checked=checked, differences=[asdict(d) | {"text": str(d)} for d in differences]
    )
