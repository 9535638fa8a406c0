"""Writes of the money ledger. Gateway calls happen outside transactions that hold locks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from appointly.core import DomainError
from appointly.money import format_money
from appointly.statements import insert_new, update_returning
from notifications.services import notify
from outbox.services import job_enqueue, jobs_enqueue
from payments.gateways import Checkout, TransientGatewayError, get_gateway
from payments.models import Payment, PaymentStatus, Payout, Refund, RefundStatus

logger = logging.getLogger(__name__)

REFUND_MAX_ATTEMPTS = 8
REFUND_JOB = "payments.refund_execute"
PAYMENT_CHECK_JOB = "payments.payment_check"
STALE_PENDING = timedelta(minutes=1)


class PaymentInProgress(DomainError):
    """Another payment for the same thing is in flight or already went through."""


def payment_start(
    *,
    reference: str,
    customer: User,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    payee: str = "",
) -> Payment:
    """Record a payment (pending) for `reference` in the caller's transaction, so the caller
    decides under its own locks whether money may move at all. The payment still pending for
    the same reference is returned as it is (pressing Pay again goes back to the same hosted
    page); so is the payment the key names (Pay pressed again on an old form). One already
    paid for the reference raises PaymentInProgress.

    The new row is tried first, leaving it out if a key is taken (one statement, ADR 0028):
    the one-live-or-succeeded constraint and the unique key say whether anything stands in
    the way, and only then is it looked for."""
    payment = Payment(
        idempotency_key=idempotency_key,
        reference=reference,
        customer=customer,
        amount_minor=amount_minor,
        currency=currency,
        gateway=get_gateway().name,
        payee=payee,
    )
    if insert_new([payment], returning="id"):
        return payment
    found = list(
        Payment.objects.filter(
            Q(reference=reference, status=PaymentStatus.PENDING) | Q(idempotency_key=idempotency_key)
        ).order_by("-created_at")
    )
    live = next((p for p in found if p.reference == reference and p.status == PaymentStatus.PENDING), None)
    if live is not None:
        if live.customer_id != customer.pk:
            raise DomainError("This payment does not belong to this booking.")
        return live
    if not found:  # neither pending nor the key's: the reference's payment went through
        raise PaymentInProgress("This is already paid.")
    payment = found[0]
    if payment.reference != reference or payment.customer_id != customer.pk:
        raise DomainError("This payment form does not belong to this booking.")
    return payment


class PaymentServiceUnavailable(DomainError):
    """The gateway did not answer: nothing was charged, and trying again is safe."""


def checkout_open(
    *, payment: Payment, description: str, success_url: str, cancel_url: str, expires_at: datetime
) -> Payment:
    """The gateway's hosted page for a pending payment (created once: the payment's key makes a
    repeated call answer the same page). Called outside transactions: it is network I/O. A
    gateway that does not answer leaves the payment pending without a page, for the next press
    of Pay (same key) or the stale sweep (ended as failed); nothing sleeps in the request."""
    if payment.checkout_url or payment.status != PaymentStatus.PENDING:
        return payment
    try:
        checkout = get_gateway().checkout_create(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            description=description,
            client_reference_id=str(payment.pk),
            customer_email=payment.customer.contact_email,
            success_url=success_url,
            cancel_url=cancel_url,
            expires_at=expires_at,
            idempotency_key=payment.idempotency_key,
        )
    except TransientGatewayError as exc:
        logger.warning("checkout for payment %s: %s", payment.pk, exc)
        Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now())
        raise PaymentServiceUnavailable(
            "The payment service is not answering right now. You have not been charged; please try again."
        ) from exc
    except Exception as exc:
        # Not a known transient error: this attempt ends (failed, final); Pay starts a new one.
        logger.exception("checkout for payment %s: unexpected gateway error", payment.pk)
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
            status=PaymentStatus.FAILED,
            failure_message="The payment service had a problem. You have not been charged; please try again.",
            updated_at=timezone.now(),
        )
        raise PaymentServiceUnavailable(
            "The payment service had a problem. You have not been charged; please try again."
        ) from exc
    Payment.objects.filter(pk=payment.pk).update(
        checkout_session_id=checkout.id, checkout_url=checkout.url, updated_at=timezone.now()
    )
    payment.checkout_session_id, payment.checkout_url = checkout.id, checkout.url
    return payment


EXPIRED_MESSAGE = "The payment page closed before a payment was made. You have not been charged."
DECLINED_MESSAGE = "Your bank declined the payment. You have not been charged; pay again with another method."


def payment_lock(**match: Any) -> Payment | None:
    """The payment that `match` names, locked for `payment_record`."""
    return Payment.objects.select_for_update().filter(**match).first()


def payment_record(*, payment: Payment, checkout: Checkout) -> tuple[Payment, bool]:
    """Write what the gateway says became of a payment's hosted page, in the caller's
    transaction (`payment` locked by `payment_lock`): paid → succeeded (from pending, or from
    failed when the page's expiry was heard first: money that moved is never lost); expired →
    failed (only from pending). Returns the payment and whether this changed it, so replays
    change nothing."""
    now = timezone.now()
    if checkout.paid and payment.status in PAID_FROM:
        for name, value in _paid(checkout.payment_ref, now).items():
            setattr(payment, name, value)
    elif checkout.status == "expired" and payment.status == PaymentStatus.PENDING:
        payment.status, payment.failure_message = PaymentStatus.FAILED, EXPIRED_MESSAGE
    elif checkout.status == "declined" and payment.status == PaymentStatus.PENDING:
        payment.status, payment.failure_message = PaymentStatus.DECLINED, DECLINED_MESSAGE
    else:
        return payment, False
    payment.save(update_fields=["status", "failure_message", "gateway_ref", "succeeded_at", "updated_at"])
    return payment, True


# A payment the gateway says is paid succeeds from these: pending, or failed when the page's
# expiry was heard first (money that moved is never lost).
PAID_FROM = (PaymentStatus.PENDING, PaymentStatus.FAILED)


def _paid(payment_ref: str, now: datetime) -> dict[str, Any]:
    return {"status": PaymentStatus.SUCCEEDED, "failure_message": "", "gateway_ref": payment_ref, "succeeded_at": now}


def payment_record_paid(
    *, checkout_session_id: str, amount_minor: int, currency: str, payment_ref: str
) -> Payment | None:
    """`payment_lock` + `payment_record` for the common case, in one statement (UPDATE ...
    RETURNING, ADR 0028): the page's payment, when it waits for this (`PAID_FROM`) with this
    amount, is locked and marked paid, and returned. None when it does not (an unknown page,
    another amount, paid already): nothing changed, and the caller takes the general path."""
    now = timezone.now()
    changed = update_returning(
        Payment.objects.filter(
            checkout_session_id=checkout_session_id,
            status__in=PAID_FROM,
            amount_minor=amount_minor,
            currency=currency,
        ),
        **_paid(payment_ref, now),
        updated_at=now,
    )
    return changed[0] if changed else None


# Called, in the transaction that recorded it, with each payment that reached a final state
# (bookings registers how an appointment follows its payment: bookings/apps.py).
PAYMENT_FINAL: list[Callable[[Payment], object]] = []


def payment_final(payment: Payment) -> None:
    for hook in PAYMENT_FINAL:
        hook(payment)


def payments_stale(*, now: datetime | None = None) -> list[Payment]:
    """Payments still pending a while after they were last touched: the customer left the
    hosted page, or its webhook has not arrived (yet)."""
    now = now or timezone.now()
    return list(
        Payment.objects.filter(status=PaymentStatus.PENDING, updated_at__lt=now - STALE_PENDING).select_related(
            "customer"
        )
    )


def payment_check(*, payment: Payment, expire: bool = False) -> Payment:
    """The queued check (the webhook's backstop): ask the gateway what became of the payment's
    page and record it; `expire` closes a page still open (its hold lapsed). A payment whose
    page was never created ends as failed. A gateway that does not answer leaves it pending
    for the next round."""
    gateway = get_gateway()
    if not payment.checkout_session_id:
        with transaction.atomic():
            if Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING, checkout_session_id="").update(
                status=PaymentStatus.FAILED,
                failure_message="The payment did not start. You have not been charged.",
                updated_at=timezone.now(),
            ):
                payment.refresh_from_db()
                payment_final(payment)
        return payment
    try:
        if expire:
            checkout = gateway.checkout_expire(payment.checkout_session_id)
        else:
            checkout = gateway.checkout_retrieve(payment.checkout_session_id)
    except TransientGatewayError as exc:
        logger.warning("check of payment %s: %s", payment.pk, exc)
        return payment
    with transaction.atomic():
        payment, changed = payment_record(payment=payment_lock(pk=payment.pk) or payment, checkout=checkout)
        if changed:
            payment_final(payment)
    return payment


def payment_succeeded_for(reference: str) -> Payment | None:
    return payments_succeeded_for([reference]).get(reference)


def payments_succeeded_for(references: list[str]) -> dict[str, Payment]:
    """The payment that went through for each reference that has one (at most one each: the
    one-live-or-succeeded constraint)."""
    return {p.reference: p for p in Payment.objects.filter(reference__in=references, status=PaymentStatus.SUCCEEDED)}


def refund_create(*, payment: Payment, amount_minor: int, reason: str, idempotency_key: str) -> Refund | None:
    """Record a refund and its job in the caller's transaction: a rollback takes both back,
    a commit always has both. Zero amounts record nothing. The key makes a repeat return the
    same row."""
    if amount_minor <= 0:
        return None
    return refunds_create([RefundAsked(payment, amount_minor, reason, idempotency_key)])[0]


@dataclass(frozen=True)
class RefundAsked:
    payment: Payment
    amount_minor: int
    reason: str
    idempotency_key: str


def refunds_create(asked: list[RefundAsked]) -> list[Refund]:
    """`refund_create` for several payments at once (a bulk cancel), in three queries however
    many: the refunds that exist already (by key), the new ones, their jobs. Amounts must be
    positive."""
    for one in asked:
        if not 0 < one.amount_minor <= one.payment.amount_minor:
            raise DomainError("A refund cannot exceed the payment.")
    existing = {
        r.idempotency_key: r for r in Refund.objects.filter(idempotency_key__in=[a.idempotency_key for a in asked])
    }
    new = [
        Refund(
            idempotency_key=one.idempotency_key,
            payment=one.payment,
            payee=one.payment.payee,
            amount_minor=one.amount_minor,
            currency=one.payment.currency,
            reason=one.reason,
        )
        for one in asked
        if one.idempotency_key not in existing
    ]
    if new:
        Refund.objects.bulk_create(new)
        jobs_enqueue(
            kind_name=REFUND_JOB,
            jobs=[({"refund_id": str(r.pk)}, f"refund:{r.pk}") for r in new],
            max_attempts=REFUND_MAX_ATTEMPTS,
        )
    made = {r.idempotency_key: r for r in new}
    return [existing.get(one.idempotency_key) or made[one.idempotency_key] for one in asked]


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
            payment_ref=refund.payment.gateway_ref,
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
