"""The gateway's webhook: the only thing that moves the ledger for a hosted payment (with the
queued check as its backstop, asking the gateway the same question).

Events are verified with Stripe's own signature check (both gateways sign the Stripe way), and
each event id is applied once: its row is written in the transaction that applies it, so a
replay, a duplicate delivery or a retry after a crash changes nothing twice. Events about one
payment commute: paid is final whatever arrives after it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import stripe
from django.db import IntegrityError, transaction

from appointly.core import DomainError
from appointly.telemetry import traced
from payments.gateways import Checkout, get_gateway
from payments.models import WebhookEvent
from payments.services import payment_final, payment_lock, payment_record, payment_record_paid

logger = logging.getLogger(__name__)


class BadWebhook(DomainError):
    """Not signed with our secret, or not an event: answered 400, nothing changes."""


class _Duplicate(Exception):
    """This event was applied before: roll back what this delivery did."""


# Other apps' handlers for event types (account.updated: providers' payout accounts).
EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {}

CHECKOUT_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
}


@traced("payment.webhook", lambda kwargs, result: {"webhook.outcome": result})
def webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify and apply one delivery; returns what happened (for the response and the log)."""
    gateway = get_gateway()
    try:
        event = stripe.Webhook.construct_event(payload, signature, gateway.webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadWebhook("The webhook signature or body is not valid.") from exc
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    if not event_id or not kind:
        raise BadWebhook("Not an event.")
    obj = event["data"]["object"]
    try:
        with transaction.atomic():
            if kind in CHECKOUT_EVENTS:
                outcome = _checkout_event(kind, obj)
            elif kind in EVENT_HANDLERS:
                outcome = EVENT_HANDLERS[kind](obj)
            else:
                outcome = "ignored"
            # The event's row, last: a delivery of an event already applied (a replay, or a
            # duplicate racing this one) fails here, and everything it did is rolled back.
            try:
                WebhookEvent.objects.create(event_id=event_id, gateway=gateway.name, type=kind, outcome=outcome[:255])
            except IntegrityError as exc:
                raise _Duplicate from exc
    except _Duplicate:
        outcome = "duplicate"
    logger.info("webhook %s %s: %s", kind, event_id, outcome)
    return outcome


def _checkout_event(kind: str, obj: Any) -> str:
    paid = kind != "checkout.session.expired" and obj.get("payment_status") in ("paid", "no_payment_required")
    if paid and isinstance(obj.get("amount_total"), int):
        # What nearly every delivery is: the payment waiting for it, paid, in one statement
        payment = payment_record_paid(
            checkout_session_id=obj["id"],
            amount_minor=obj["amount_total"],
            currency=str(obj.get("currency", "")).upper(),
            payment_ref=str(obj.get("payment_intent") or ""),
        )
        if payment is not None:
            payment_final(payment)
            return payment.status
    payment = payment_lock(checkout_session_id=obj["id"])
    if payment is None:
        return "unknown session"
    if paid and (
        obj.get("amount_total") != payment.amount_minor or str(obj.get("currency", "")).upper() != payment.currency
    ):
        logger.error(
            "checkout %s: paid %s %s, expected %s", obj["id"], obj.get("amount_total"), obj.get("currency"), payment
        )
        return "amount differs (left for reconciliation)"
    if kind == "checkout.session.async_payment_failed":
        status = "declined"  # the bank refused a delayed payment: nothing was taken
    else:
        status = "complete" if paid else str(obj.get("status") or "open")
    checkout = Checkout(
        id=obj["id"],
        url="",
        status=status,
        paid=paid,
        payment_ref=str(obj.get("payment_intent") or ""),
        client_reference_id=str(obj.get("client_reference_id") or ""),
    )
    payment, changed = payment_record(payment=payment, checkout=checkout)
    if not changed:
        return f"no change ({payment.status})"
    payment_final(payment)
    return payment.status


def sandbox_deliver_now(*, post: Callable[[str, str], object] | None = None) -> int:
    """Deliver the sandbox's undelivered events now, signed, in order: through `post(body,
    signature)` (a test client's POST to the webhook), or in process through the same
    verification. For the demo data and tests; a running site gets them from the queue."""
    from django.conf import settings
    from django.utils import timezone

    from payments.gateways import sign_payload
    from payments.models import SandboxEvent

    delivered = 0
    for sandbox_event in SandboxEvent.objects.filter(delivered_at__isnull=True).order_by("created_at"):
        body = json.dumps(sandbox_event.payload)
        signature = sign_payload(body, settings.SANDBOX_WEBHOOK_SECRET)
        if post is not None:
            post(body, signature)
        else:
            webhook_receive(payload=body.encode(), signature=signature)
        SandboxEvent.objects.filter(pk=sandbox_event.pk).update(delivered_at=timezone.now())
        delivered += 1
    return delivered
