"""Queue handlers of the payments domain."""

from __future__ import annotations

from typing import Any

from outbox.registry import register
from payments.gateways import SANDBOX_DELIVER_JOB, sandbox_deliver
from payments.models import Payment
from payments.payouts import PAYOUT_JOB, payout_dead, payout_transfer, payouts_create
from payments.services import (
    PAYMENT_CHECK_JOB,
    REFUND_JOB,
    REFUND_MAX_ATTEMPTS,
    payment_check,
    refund_dead,
    refund_execute,
)


def _on_dead(payload: dict[str, Any], error: str) -> None:
    refund_dead(refund_id=payload["refund_id"], error=error)


def _payout_dead(payload: dict[str, Any], error: str) -> None:
    payout_dead(payout_id=payload["payout_id"], error=error)


@register(PAYOUT_JOB, max_attempts=6, on_dead=_payout_dead)
def payout_transfer_job(payload: dict[str, Any]) -> None:
    payout_transfer(payout_id=payload["payout_id"])


@register("payments.payouts_create", max_attempts=3)
def payouts_create_job(payload: dict[str, Any]) -> None:
    payouts_create()


@register("payments.reconcile", max_attempts=3)
def reconcile_job(payload: dict[str, Any]) -> None:
    """The daily reconciliation: the last two days, so a run that failed is covered by the next."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.reconcile import payments_reconcile

    payments_reconcile(since=timezone.now() - timedelta(days=2))


@register(REFUND_JOB, max_attempts=REFUND_MAX_ATTEMPTS, on_dead=_on_dead)
def refund_job(payload: dict[str, Any]) -> None:
    refund_execute(refund_id=payload["refund_id"])


@register(PAYMENT_CHECK_JOB, max_attempts=5)
def payment_check_job(payload: dict[str, Any]) -> None:
    """Ask the gateway about one payment (closing its page when `expire`): the webhook's backstop."""
    payment = Payment.objects.select_related("customer").filter(pk=payload["payment_id"]).first()
    if payment is not None:
        payment_check(payment=payment, expire=bool(payload.get("expire")))


@register(SANDBOX_DELIVER_JOB, max_attempts=8)
def sandbox_deliver_job(payload: dict[str, Any]) -> None:
    """The sandbox gateway sending one event to our webhook, retried while the site is down."""
    sandbox_deliver(event_id=payload["event_id"])
