"""Paying providers out: a daily run makes one payout per provider and currency from the
payments that are settled (their appointment is over, or cancelled) less the refunds not yet
deducted and the platform's fee, and a job transfers each one through the gateway with the
payout's own key, so however often it runs (two workers, a killed one) the money moves once."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from appointly.money import format_money
from notifications.services import notify
from outbox.services import job_enqueue
from payments.gateways import TransientGatewayError, get_gateway
from payments.models import Payment, PaymentStatus, Payout, PayoutStatus, Refund, RefundStatus

PAYOUT_JOB = "payments.payout_transfer"
WAITING_FOR_ACCOUNT = "Waiting for the provider to set up payouts (their payout account)."


def _queue_transfer(payout: Payout, *, again: str = "") -> None:
    job_enqueue(
        kind_name=PAYOUT_JOB, payload={"payout_id": str(payout.pk)}, idempotency_key=f"payout:{payout.pk}{again}"
    )


def _fee(net_minor: int) -> int:
    share = Decimal(str(settings.PLATFORM_FEE_PERCENT)) / 100
    return int((Decimal(net_minor) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@transaction.atomic
def payouts_create(*, now: datetime | None = None) -> list[Payout]:
    """One pending payout per provider and currency, each queued for its transfer. A balance
    that refunds have brought to zero or below is carried to the next run, untouched."""
    from bookings.models import Appointment, AppointmentStatus
    from providers.models import Provider

    now = now or timezone.now()
    # Not paid out yet (a bounded set, however long the history), then those whose appointment
    # is over or cancelled.
    candidates = list(
        Payment.objects.select_for_update(skip_locked=True).filter(status=PaymentStatus.SUCCEEDED, payout__isnull=True)
    )
    settled = {
        str(pk)
        for pk in Appointment.objects.filter(pk__in=[p.reference for p in candidates])
        .filter(Q(end__lte=now) | Q(status=AppointmentStatus.CANCELLED))
        .values_list("pk", flat=True)
    }
    payments = [p for p in candidates if p.reference in settled]
    payment_ids = {p.pk for p in payments}
    refunds = [
        r
        for r in Refund.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("payment")
        .filter(status=RefundStatus.SUCCEEDED, payout__isnull=True)
        if r.payment_id in payment_ids or r.payment.payout_id is not None  # deducted once its payment is
    ]
    groups: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: {"payments": [], "refunds": []})
    for p in payments:
        groups[(p.payee, p.currency)]["payments"].append(p)
    for r in refunds:
        groups[(r.payment.payee, r.currency)]["refunds"].append(r)
    payees = Provider.objects.filter(pk__in={payee for payee, _ in groups})
    users = dict(payees.values_list("pk", "user_id"))
    ready = dict(payees.values_list("pk", "payout_account_ready"))
    made = []
    for (payee, currency), rows in groups.items():
        net = sum(p.amount_minor for p in rows["payments"]) - sum(r.amount_minor for r in rows["refunds"])
        fee = _fee(net) if net > 0 else 0
        if net - fee <= 0 or uuid.UUID(payee) not in users:
            continue  # nothing to pay yet: carried to the next run
        payout = Payout.objects.create(
            recipient_id=users[uuid.UUID(payee)],
            payee=payee,
            amount_minor=net - fee,
            fee_minor=fee,
            currency=currency,
            status=PayoutStatus.PENDING,
            reference=f"Earnings up to {now:%d %b %Y}",
            idempotency_key=f"payout-{uuid.uuid4()}",
        )
        Payment.objects.filter(pk__in=[p.pk for p in rows["payments"]]).update(payout=payout)
        Refund.objects.filter(pk__in=[r.pk for r in rows["refunds"]]).update(payout=payout)
        if ready.get(uuid.UUID(payee)):
            _queue_transfer(payout)
        else:
            payout.last_error = WAITING_FOR_ACCOUNT
            payout.save(update_fields=["last_error", "updated_at"])
        made.append(payout)
    return made


def payout_transfer(*, payout_id: str) -> Payout | None:
    """Transfer one pending payout (the queue's handler). The payout row stays locked during the
    gateway call, so two workers never ask for one payout's transfer at once; a worker killed
    mid-call leaves the row pending and the next run repeats the call with the same key, which
    the gateway answers with the transfer it already made. A transient gateway error is recorded
    and re-raised for the queue's retry with backoff."""
    error: TransientGatewayError | None = None
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(of=("self",))
            .select_related("recipient", "recipient__provider")
            .filter(pk=payout_id, status=PayoutStatus.PENDING)
            .first()
        )
        if payout is None:
            return None
        provider = getattr(payout.recipient, "provider", None)
        if provider is None or not provider.payout_account_ready:
            # Nowhere to send it yet: it waits, and is queued again when the account is ready.
            payout.last_error = WAITING_FOR_ACCOUNT
            payout.save(update_fields=["last_error", "updated_at"])
            return payout
        payout.attempts += 1
        try:
            result = get_gateway().transfer(
                destination=provider.payout_account_id,
                amount_minor=payout.amount_minor,
                currency=payout.currency,
                idempotency_key=payout.idempotency_key,
            )
        except TransientGatewayError as exc:
            payout.last_error, error = str(exc), exc
        else:
            payout.status = PayoutStatus.TRANSFERRED if result.succeeded else PayoutStatus.FAILED
            payout.gateway_ref, payout.last_error = result.gateway_ref, result.message
            payout.transferred_at = timezone.now() if result.succeeded else None
            if result.succeeded:
                notify(
                    event="funds_transferred",
                    recipient=payout.recipient,
                    context={
                        "amount": format_money(payout.amount_minor, payout.currency),
                        "reference": payout.reference,
                    },
                    key=f"payout:{payout.pk}",
                )
        payout.save()
    if error is not None:
        raise error
    return payout


def payout_dead(*, payout_id: str, error: str) -> None:
    """The queue gave up: the payout is marked failed (visible in the admin), never dropped."""
    Payout.objects.filter(pk=payout_id, status=PayoutStatus.PENDING).update(
        status=PayoutStatus.FAILED, last_error=error[:4000], updated_at=timezone.now()
    )


# --- The provider's payout account (Stripe Connect Express; the sandbox's stand-in) -----------


def payout_account_link(*, provider: Any, return_url: str, refresh_url: str) -> str:
    """The gateway's onboarding page for the provider's payout account, creating the account
    the first time (its key is the provider's id, so a repeat never makes a second one)."""
    from providers.models import Provider

    gateway = get_gateway()
    if not provider.payout_account_id:
        account_id = gateway.account_create(
            email=provider.user.contact_email, idempotency_key=f"provider-{provider.pk}"
        )
        Provider.objects.filter(pk=provider.pk, payout_account_id="").update(payout_account_id=account_id)
        provider.refresh_from_db(fields=["payout_account_id"])
    return gateway.account_link(account_id=provider.payout_account_id, refresh_url=refresh_url, return_url=return_url)


def payout_account_refresh(*, provider: Any) -> bool:
    """Ask the gateway whether the provider's account can receive payouts (on coming back from
    onboarding; the `account.updated` webhook says the same). True when it can."""
    if not provider.payout_account_id:
        return False
    state = get_gateway().account_retrieve(provider.payout_account_id)
    with transaction.atomic():
        payout_account_set(account_id=state.id, ready=state.payouts_enabled)
    provider.refresh_from_db(fields=["payout_account_ready"])
    return bool(provider.payout_account_ready)


def payout_account_set(*, account_id: str, ready: bool) -> str:
    """Record the account's state; when it becomes ready, the payouts that waited for it are
    queued for their transfer. In the caller's transaction."""
    from providers.models import Provider

    provider = Provider.objects.select_for_update().filter(payout_account_id=account_id).first()
    if provider is None:
        return "unknown account"
    if provider.payout_account_ready == ready:
        return "no change"
    provider.payout_account_ready = ready
    provider.save(update_fields=["payout_account_ready", "updated_at"])
    if ready:
        for payout in Payout.objects.filter(recipient_id=provider.user_id, status=PayoutStatus.PENDING):
            _queue_transfer(payout, again=f":ready:{uuid.uuid4()}")
    return "ready" if ready else "not ready"


def _account_updated(obj: dict[str, Any]) -> str:
    return payout_account_set(account_id=str(obj["id"]), ready=bool(obj.get("payouts_enabled")))


def register_webhook_handlers() -> None:
    from payments.webhooks import EVENT_HANDLERS

    EVENT_HANDLERS["account.updated"] = _account_updated
