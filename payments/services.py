"""Writes of the money ledger. Gateway calls happen outside transactions that hold locks."""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from appointly.core import DomainError
from payments.gateways import GatewayResult, TransientGatewayError, get_gateway
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)

CHARGE_TRIES = 3
REFUND_MAX_ATTEMPTS = 8
REFUND_LEASE = timedelta(minutes=2)
STALE_PENDING = timedelta(minutes=1)


class PaymentInProgress(DomainError):
    """Another payment for the same thing is in flight or already went through."""


def _backoff(attempt: int) -> timedelta:
    """Exponential backoff with jitter: ~30 s, 1 min, 2 min, ... capped at 1 h."""
    base = min(30 * 2 ** (attempt - 1), 3600)
    return timedelta(seconds=base * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter, not security


def payment_charge(
    *,
    reference: str,
    customer: User,
    amount_minor: int,
    currency: str,
    card_number: str,
    idempotency_key: str,
) -> Payment:
    """Charge once for `reference`. The same key replays the first outcome; a second live
    payment for the same reference is refused (PaymentInProgress)."""
    digits = "".join(ch for ch in card_number if ch.isdigit())
    gateway = get_gateway()
    try:
        with transaction.atomic():
            payment, created = Payment.objects.get_or_create(
                idempotency_key=idempotency_key,
                defaults={
                    "reference": reference,
                    "customer": customer,
                    "amount_minor": amount_minor,
                    "currency": currency,
                    "gateway": gateway.name,
                    "card_last4": digits[-4:],
                },
            )
    except IntegrityError as exc:
        raise PaymentInProgress("This appointment is already paid or a payment is in progress.") from exc
    if payment.reference != reference or payment.customer_id != customer.pk:
        raise DomainError("This payment form does not belong to this booking.")
    if not created and payment.status != PaymentStatus.PENDING:
        return payment
    if not created and payment.updated_at > timezone.now() - STALE_PENDING:
        # The same form is being processed right now (double click): don't call the gateway
        # twice at once. A pending row older than that was abandoned mid-call; retrying it
        # with the same key is safe, the gateway replays the first outcome.
        raise PaymentInProgress("This payment is already being processed.")

    result: GatewayResult | None = None
    for attempt in range(1, CHARGE_TRIES + 1):
        try:
            result = gateway.charge(
                amount_minor=amount_minor,
                currency=currency,
                card_number=digits,
                idempotency_key=idempotency_key,
                description=f"Appointly {reference}",
            )
            break
        except TransientGatewayError as exc:
            logger.warning("charge %s attempt %s: %s", payment.pk, attempt, exc)
            if attempt < CHARGE_TRIES:
                time.sleep(0.2 * attempt)
    if result is None:
        status, message = PaymentStatus.FAILED, "We could not reach the payment service. You have not been charged."
    elif result.succeeded:
        status, message = PaymentStatus.SUCCEEDED, ""
    else:
        status, message = PaymentStatus.DECLINED, result.message
    Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
        status=status,
        gateway_ref=result.gateway_ref if result else "",
        failure_message=message,
        updated_at=timezone.now(),
    )
    payment.refresh_from_db()
    return payment


def payment_succeeded_for(reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference, status=PaymentStatus.SUCCEEDED).first()


def refund_create(*, payment: Payment, amount_minor: int, reason: str, idempotency_key: str) -> Refund | None:
    """Record a refund to be executed by a background job (enqueued when the caller commits).

    Must run inside the caller's transaction. Zero amounts record nothing. The key makes a
    repeated call return the same row.
    """
    if amount_minor <= 0:
        return None
    if amount_minor > payment.amount_minor:
        raise DomainError("A refund cannot exceed the payment.")
    refund, created = Refund.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "payment": payment,
            "amount_minor": amount_minor,
            "currency": payment.currency,
            "reason": reason,
            "next_attempt_at": timezone.now(),
        },
    )
    if created:
        from payments.tasks import refund_execute_task

        transaction.on_commit(lambda: refund_execute_task.delay(str(refund.pk)))
    return refund


def refund_execute(*, refund_id: str) -> Refund | None:
    """Send one due refund to the gateway. Safe to call any number of times, concurrently.

    The claim (attempts + a lease in next_attempt_at) is committed before the gateway call,
    so two workers never send the same refund at once; the idempotency key makes a repeated
    send after a crash harmless.
    """
    now = timezone.now()
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(skip_locked=True)
            .select_related("payment")
            .filter(pk=refund_id, status=RefundStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if refund is None:
            return None
        refund.attempts += 1
        refund.next_attempt_at = now + REFUND_LEASE
        refund.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    try:
        result = get_gateway().refund(
            gateway_ref=refund.payment.gateway_ref,
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            idempotency_key=refund.idempotency_key,
        )
    except TransientGatewayError as exc:
        dead = refund.attempts >= REFUND_MAX_ATTEMPTS
        Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            status=RefundStatus.FAILED if dead else RefundStatus.PENDING,
            next_attempt_at=None if dead else timezone.now() + _backoff(refund.attempts),
            last_error=str(exc),
            updated_at=timezone.now(),
        )
        refund.refresh_from_db()
        return refund
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
        status=RefundStatus.SUCCEEDED if result.succeeded else RefundStatus.FAILED,
        gateway_ref=result.gateway_ref,
        last_error=result.message,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    return refund


def refunds_retry_due(*, now: None = None) -> int:
    """Send every refund whose time has come (the beat sweeper: nothing waits on the broker)."""
    due = Refund.objects.filter(status=RefundStatus.PENDING, next_attempt_at__lte=timezone.now()).values_list(
        "pk", flat=True
    )
    done = 0
    for pk in list(due[:500]):
        if refund_execute(refund_id=str(pk)) is not None:
            done += 1
    return done


def refund_requeue(*, refund: Refund) -> None:
    """Operator action: give a failed refund another round of attempts."""
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.FAILED).update(
        status=RefundStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), updated_at=timezone.now()
    )
