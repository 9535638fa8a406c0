"""Queue handlers of the payments domain."""

from __future__ import annotations

from typing import Any

from outbox.registry import register
from payments.payouts import PAYOUT_JOB, payout_dead, payout_transfer, payouts_create
from payments.services import REFUND_JOB, REFUND_MAX_ATTEMPTS, refund_dead, refund_execute


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
