"""Writes of the money ledger. Gateway calls happen outside transactions that hold locks."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from appointly.core import DomainError
from appointly.money import format_money
from notifications.services import notify
from outbox.services import job_enqueue
from payments.gateways import GatewayResult, TransientGatewayError, get_gateway
from payments.models import Payment, PaymentStatus, Payout, Refund, RefundStatus

logger = logging.getLogger(__name__)

CHARGE_TRIES = 3
REFUND_MAX_ATTEMPTS = 8
REFUND_JOB = "payments.refund_execute"
STALE_PENDING = timedelta(minutes=1)


class PaymentInProgress(DomainError):
    """Another payment for the same thing is in flight or already went through."""


def payment_start(
    *,
    reference: str,
    customer: User,
    amount_minor: int,
    currency: str,
    card_last4: str,
    idempotency_key: str,
    payee: str = "",
) -> Payment:
    """Record a payment attempt for `reference` (pending) in the caller's transaction, so the
    caller can decide under its own locks whether money may move at all. The same key returns
    the same row; a second live payment for the same reference is refused (PaymentInProgress)."""
    try:
        with transaction.atomic():
            payment, created = Payment.objects.get_or_create(
                idempotency_key=idempotency_key,
                defaults={
                    "reference": reference,
                    "customer": customer,
                    "amount_minor": amount_minor,
                    "currency": currency,
                    "gateway": get_gateway().name,
                    "card_last4": card_last4,
                    "payee": payee,
                },
            )
    except IntegrityError as exc:
        raise PaymentInProgress("This appointment is already paid or a payment is in progress.") from exc
    if payment.reference != reference or payment.customer_id != customer.pk:
        raise DomainError("This payment form does not belong to this booking.")
    if not created and payment.status == PaymentStatus.PENDING and payment.updated_at > timezone.now() - STALE_PENDING:
        # The same form is being processed right now (double click): don't call the gateway
        # twice at once. A pending row older than that was abandoned mid-call; retrying it
        # with the same key is safe, the gateway replays the first outcome.
        raise PaymentInProgress("This payment is already being processed.")
    return payment


def payment_execute(*, payment: Payment, card_number: str) -> Payment:
    """Charge a pending payment at the gateway (outside any transaction) and record the final
    state. Every attempt ends succeeded, declined or failed, whatever the gateway raises: a
    payment never stays pending because of an error of ours or theirs."""
    if payment.status != PaymentStatus.PENDING:
        return payment
    gateway = get_gateway()
    result: GatewayResult | None = None
    message = "We could not reach the payment service. You have not been charged."
    for attempt in range(1, CHARGE_TRIES + 1):
        try:
            result = gateway.charge(
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                card_number=card_number,
                idempotency_key=payment.idempotency_key,
                description=f"Appointly {payment.reference}",
            )
            break
        except TransientGatewayError as exc:
            logger.warning("charge %s attempt %s: %s", payment.pk, attempt, exc)
            if attempt < CHARGE_TRIES:
                time.sleep(0.2 * attempt)
        except Exception:
            logger.exception("charge %s: unexpected gateway error", payment.pk)
            message = "The payment service had a problem. You have not been charged; please try again."
            break
    return _record_charge(payment, result, failed_message=message)


def _record_charge(payment: Payment, result: GatewayResult | None, *, failed_message: str) -> Payment:
    """Write a pending payment's final state: succeeded or declined as the gateway answered,
    failed (with `failed_message`) when there is no answer."""
    if result is None:
        status, message = PaymentStatus.FAILED, failed_message
    elif result.succeeded:
        status, message = PaymentStatus.SUCCEEDED, ""
    else:
        status, message = PaymentStatus.DECLINED, result.message
    now = timezone.now()
    Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
        status=status,
        gateway_ref=result.gateway_ref if result else "",
        failure_message=message,
        succeeded_at=now if status == PaymentStatus.SUCCEEDED else None,
        updated_at=now,
    )
    payment.refresh_from_db()
    return payment


def payments_stale(*, now: datetime | None = None) -> list[Payment]:
    """Payments still pending a while after they started: their process died or lost the
    database between the gateway call and recording its answer."""
    now = now or timezone.now()
    return list(Payment.objects.filter(status=PaymentStatus.PENDING, updated_at__lt=now - STALE_PENDING))


def payment_reconcile(*, payment: Payment) -> Payment:
    """Ask the gateway what became of a stale pending payment (by its idempotency key) and
    record the final state: what it charged, or failed when it never completed a charge."""
    result = get_gateway().charge_status(idempotency_key=payment.idempotency_key)
    return _record_charge(payment, result, failed_message="The payment did not complete. You have not been charged.")


def payment_succeeded_for(reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference, status=PaymentStatus.SUCCEEDED).first()


def refund_create(*, payment: Payment, amount_minor: int, reason: str, idempotency_key: str) -> Refund | None:
    """Record a refund and its job in the caller's transaction: a rollback takes both back,
    a commit always has both. Zero amounts record nothing. The key makes a repeat return the
    same row."""
    if amount_minor <= 0:
        return None
    if amount_minor > payment.amount_minor:
        raise DomainError("A refund cannot exceed the payment.")
    refund, created = Refund.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "payment": payment,
            "payee": payment.payee,
            "amount_minor": amount_minor,
            "currency": payment.currency,
            "reason": reason,
        },
    )
    if created:
        job_enqueue(
            kind_name=REFUND_JOB,
            payload={"refund_id": str(refund.pk)},
            idempotency_key=f"refund:{refund.pk}",
            max_attempts=REFUND_MAX_ATTEMPTS,
        )
    return refund


def refund_execute(*, refund_id: str) -> Refund | None:
    """Send one pending refund to the gateway (the queue's handler). Safe to repeat and to run
    twice at once: the row lock serialises the bookkeeping, and the gateway's idempotency key
    (the refund's own) replays the first answer instead of refunding twice.

    A transient gateway error is recorded on the row and re-raised, so the queue retries it
    with backoff; after the last attempt the queue dead-letters it (`refund_dead`).
    """
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update()
            .select_related("payment")
            .filter(pk=refund_id, status=RefundStatus.PENDING)
            .first()
        )
        if refund is None:
            return None
        refund.attempts += 1
        refund.save(update_fields=["attempts", "updated_at"])
    try:
        result = get_gateway().refund(
            gateway_ref=refund.payment.gateway_ref,
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            idempotency_key=refund.idempotency_key,
        )
    except TransientGatewayError as exc:
        Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            last_error=str(exc), updated_at=timezone.now()
        )
        raise
    with transaction.atomic():
        now = timezone.now()
        updated = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            status=RefundStatus.SUCCEEDED if result.succeeded else RefundStatus.FAILED,
            gateway_ref=result.gateway_ref,
            last_error=result.message,
            succeeded_at=now if result.succeeded else None,
            updated_at=now,
        )
        if updated and result.succeeded:
            notify(
                event="refund_issued",
                recipient=refund.payment.customer,
                context={
                    "amount": format_money(refund.amount_minor, refund.currency),
                    "reference_text": refund.reason.lower() if refund.reason else "your booking",
                    # The payment's reference is the appointment: its receipt lists the refund.
                    "receipt_link": reverse("bookings:receipt", args=[refund.payment.reference]),
                },
                key=f"refund:{refund.pk}",
                reference=refund.payment.reference,
            )
    refund.refresh_from_db()
    return refund


def refund_dead(*, refund_id: str, error: str) -> None:
    """The queue gave up: the refund is marked failed, visible to operators, never dropped."""
    Refund.objects.filter(pk=refund_id, status=RefundStatus.PENDING).update(
        status=RefundStatus.FAILED, last_error=error[:4000], updated_at=timezone.now()
    )


@transaction.atomic
def refund_requeue(*, refund: Refund) -> None:
    """Operator action: a failed refund gets another round of attempts (same gateway key)."""
    if Refund.objects.filter(pk=refund.pk, status=RefundStatus.FAILED).update(
        status=RefundStatus.PENDING, attempts=0, updated_at=timezone.now()
    ):
        job_enqueue(
            kind_name=REFUND_JOB,
            payload={"refund_id": str(refund.pk)},
            idempotency_key=f"refund:{refund.pk}:requeue:{uuid.uuid4()}",
            max_attempts=REFUND_MAX_ATTEMPTS,
        )


@transaction.atomic
def payout_record(
    *, recipient: User, amount_minor: int, currency: str, reference: str = "", idempotency_key: str
) -> Payout:
    """Record funds transferred to a provider and tell them (same transaction). Idempotent by key."""
    if amount_minor <= 0:
        raise DomainError("A payout must be more than zero.")
    payout, created = Payout.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={"recipient": recipient, "amount_minor": amount_minor, "currency": currency, "reference": reference},
    )
    if created:
        notify(
            event="funds_transferred",
            recipient=recipient,
            context={"amount": format_money(amount_minor, currency), "reference": reference},
            key=f"payout:{payout.pk}",
        )
    return payout


def payouts_for(*, recipient: User, limit: int = 50) -> list[Payout]:
    """The provider's payouts, newest first (the dashboard's Payouts page)."""
    return list(Payout.objects.filter(recipient=recipient).order_by("-created_at")[:limit])


@dataclass(frozen=True)
class Earnings:
    gross_minor: dict[str, int]
    refunds_minor: dict[str, int]

    @property
    def net_minor(self) -> dict[str, int]:
        currencies = set(self.gross_minor) | set(self.refunds_minor)
        return {c: self.gross_minor.get(c, 0) - self.refunds_minor.get(c, 0) for c in sorted(currencies)}


def earnings_between(*, payee: str, start: datetime, end: datetime) -> Earnings:
    """Money in [start, end): payments count when they succeed, refunds when they are paid
    back (docs/adr/0009). Two aggregate queries."""
    from django.db.models import Sum

    gross = (
        Payment.objects.filter(
            payee=payee, status=PaymentStatus.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end
        )
        .values("currency")
        .annotate(total=Sum("amount_minor"))
        .values_list("currency", "total")
    )
    refunds = (
        Refund.objects.filter(payee=payee, status=RefundStatus.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end)
        .values("currency")
        .annotate(total=Sum("amount_minor"))
        .values_list("currency", "total")
    )
    return Earnings(gross_minor={c: t or 0 for c, t in gross}, refunds_minor={c: t or 0 for c, t in refunds})


def weekly_revenue(*, payee: str, start: datetime, end: datetime, tz: Any) -> dict[str, dict[Any, int]]:
    """Succeeded payments per provider-local week and currency, summed in the database."""
    from django.db.models import Sum
    from django.db.models.functions import TruncWeek

    rows = (
        Payment.objects.filter(
            payee=payee, status=PaymentStatus.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end
        )
        .annotate(week=TruncWeek("succeeded_at", tzinfo=tz))
        .values("week", "currency")
        .annotate(total=Sum("amount_minor"))
        .values_list("week", "currency", "total")
    )
    out: dict[str, dict[Any, int]] = {}
    for week, currency, total in rows:
        out.setdefault(currency, {})[week.date()] = total or 0
    return out
