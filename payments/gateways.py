"""Payment gateways: one interface, a sandbox (the default) and Stripe (payments/stripe_gateway.py).

Customers pay on the gateway's hosted page (a checkout session): no card number ever reaches
our server. The gateway tells us what happened through its webhook (payments/webhooks.py),
signed the Stripe way by both gateways, so the sandbox runs the same code path as Stripe.

A gateway call is network I/O: callers make it outside database transactions that hold locks,
and pass an idempotency key so a retried call never creates, refunds or transfers twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string


class TransientGatewayError(Exception):
    """The outcome is unknown or the gateway is unavailable: safe to retry with the same key."""


@dataclass(frozen=True)
class GatewayResult:
    succeeded: bool
    gateway_ref: str = ""
    message: str = ""


@dataclass(frozen=True)
class Checkout:
    """A hosted payment page as the gateway sees it."""

    id: str
    url: str
    status: str  # open / complete / expired (/ declined: a delayed payment the bank refused)
    paid: bool = False
    payment_ref: str = ""  # the gateway's payment (Stripe: the PaymentIntent) once paid
    client_reference_id: str = ""  # our payment's id


@dataclass(frozen=True)
class AccountState:
    id: str
    payouts_enabled: bool
    details_submitted: bool


class Gateway(Protocol):
    name: str

    @property
    def webhook_secret(self) -> str: ...

    def checkout_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        client_reference_id: str,
        customer_email: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
    ) -> Checkout:
        """A hosted payment page for this amount; the same key answers the same page."""
        ...

    def checkout_retrieve(self, session_id: str) -> Checkout: ...

    def checkout_expire(self, session_id: str) -> Checkout:
        """Close an open page (nobody can pay on it any more); a page already paid or expired
        is answered as it is."""
        ...

    def checkouts_since(self, since: datetime) -> list[Checkout]:
        """Every paid checkout since then: the reconciliation looks for money the ledger lacks."""
        ...

    def refund(self, *, payment_ref: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult: ...

    def refund_status(self, *, payment_ref: str, idempotency_key: str) -> GatewayResult | None:
        """What became of a refund made with this key (None: the gateway made none)."""
        ...

    def transfer(self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        """Move money from the platform to a provider's connected account."""
        ...

    def transfer_status(self, transfer_ref: str) -> GatewayResult | None:
        """The transfer as the gateway knows it (None: it has none by that id)."""
        ...

    def events_since(self, since: datetime) -> list[tuple[str, str]]:
        """The (id, type) of every event the gateway sent since then."""
        ...

    def account_create(self, *, email: str, idempotency_key: str) -> str:
        """A connected (Express) account for a provider; its id."""
        ...

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """The gateway's onboarding page for that account (a one-time URL)."""
        ...

    def account_retrieve(self, account_id: str) -> AccountState: ...


# Test cards, like a real gateway's test mode (typed on the hosted page, never on ours).
CARD_SUCCESS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NETWORK_ERROR = "4000000000000119"  # the first try on a page fails with a processing error
CARD_REFUND_FAILS = "4000000000005126"  # the payment succeeds; refunds fail once, then succeed


def sign_payload(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for this payload (what Stripe sends; the sandbox sends the
    same, and `stripe.Webhook.construct_event` verifies both)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class SandboxGateway:
    """Behaves like Stripe's test mode, keeping its "server side" in its own tables: hosted
    pages at /sandbox/checkout/<id>, connected accounts with an onboarding page, and events
    sent to our webhook, signed with SANDBOX_WEBHOOK_SECRET. Answers are replayed for a
    repeated idempotency key, exactly like Stripe."""

    name = "sandbox"

    @property
    def webhook_secret(self) -> str:
        return str(settings.SANDBOX_WEBHOOK_SECRET)

    # --- idempotent operations ---------------------------------------------------------------
    def _operation(self, kind: str, key: str) -> tuple[int, dict[str, object] | None]:
        from payments.models import SandboxOperation

        with transaction.atomic():
            try:
                with transaction.atomic():
                    SandboxOperation.objects.create(idempotency_key=key, kind=kind, calls=1)
                return 1, None
            except IntegrityError:
                SandboxOperation.objects.filter(idempotency_key=key).update(calls=F("calls") + 1)
                op = SandboxOperation.objects.get(idempotency_key=key)
                return op.calls, op.result

    def _remember(self, key: str, result: GatewayResult) -> GatewayResult:
        from payments.models import SandboxOperation

        SandboxOperation.objects.filter(idempotency_key=key).update(
            result={"succeeded": result.succeeded, "gateway_ref": result.gateway_ref, "message": result.message}
        )
        return result

    # --- hosted payment pages ----------------------------------------------------------------
    def checkout_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        client_reference_id: str,
        customer_email: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
    ) -> Checkout:
        from payments.models import SandboxCheckout

        now = timezone.now()
        # Stripe's rule: a session lives between 30 minutes and 24 hours.
        if not now + timedelta(minutes=30) - timedelta(seconds=5) <= expires_at <= now + timedelta(hours=24):
            raise ValueError("expires_at must be 30 minutes to 24 hours from now")
        session, _ = SandboxCheckout.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "id": "cs_sandbox_" + secrets.token_hex(12),
                "client_reference_id": client_reference_id,
                "amount_minor": amount_minor,
                "currency": currency,
                "description": description,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "expires_at": expires_at,
            },
        )
        return self._checkout(session)

    def _checkout(self, session: Any) -> Checkout:
        if session.status == "open" and session.expires_at <= timezone.now():
            self._expire(session)
        return Checkout(
            id=session.id,
            # The sandbox's pages are on our own site: the one the customer comes back to.
            url=_origin(session.success_url) + reverse("payments:sandbox_checkout", args=[session.id]),
            status=session.status,
            paid=session.status == "complete",
            payment_ref=session.payment_ref,
            client_reference_id=session.client_reference_id,
        )

    def checkout_retrieve(self, session_id: str) -> Checkout:
        from payments.models import SandboxCheckout

        return self._checkout(SandboxCheckout.objects.get(pk=session_id))

    def checkout_expire(self, session_id: str) -> Checkout:
        from payments.models import SandboxCheckout

        with transaction.atomic():
            session = SandboxCheckout.objects.select_for_update().get(pk=session_id)
            if session.status == "open":
                self._expire(session)
        return self._checkout(session)

    def _expire(self, session: Any) -> None:
        from payments.models import SandboxCheckout

        if SandboxCheckout.objects.filter(pk=session.pk, status="open").update(status="expired"):
            session.status = "expired"
            sandbox_event("checkout.session.expired", _session_object(session))

    def checkouts_since(self, since: datetime) -> list[Checkout]:
        from payments.models import SandboxCheckout

        done = SandboxCheckout.objects.filter(status="complete", completed_at__gte=since).order_by("completed_at")
        return [self._checkout(s) for s in done]

    def pay(self, session_id: str, card_number: str) -> str:
        """The hosted page's form: pay with a test card. Returns "" when paid, else the message
        the page shows (the page stays open for another try, as Stripe's does)."""
        from payments.models import SandboxCheckout

        digits = card_number.replace(" ", "").replace("-", "")  # groups may be separated; nothing else
        with transaction.atomic():
            session = SandboxCheckout.objects.select_for_update().get(pk=session_id)
            if session.status == "open" and session.expires_at <= timezone.now():
                self._expire(session)
            if session.status == "complete":
                return ""
            if session.status != "open":
                return "This payment page has expired. Go back to the booking to start again."
            session.card_attempts += 1
            session.save(update_fields=["card_attempts"])
            if digits == CARD_NETWORK_ERROR and session.card_attempts == 1:
                return "We could not reach your bank. Nothing was charged; please try again."
            if digits == CARD_DECLINED:
                return "Your card was declined."
            if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 and _luhn_ok(digits)):
                return "That card number is not valid."
            session.status = "complete"
            session.payment_ref = ("pi_rf_" if digits == CARD_REFUND_FAILS else "pi_sandbox_") + secrets.token_hex(10)
            session.completed_at = timezone.now()
            session.save(update_fields=["status", "payment_ref", "completed_at"])
            sandbox_event("checkout.session.completed", _session_object(session))
        return ""

    # --- refunds and transfers --------------------------------------------------------------
    def refund(self, *, payment_ref: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        calls, replay = self._operation("refund", idempotency_key)
        if replay is not None:
            return GatewayResult(**replay)  # type: ignore[arg-type]
        if payment_ref.startswith("pi_rf_") and calls == 1:
            raise TransientGatewayError("The refund service is temporarily unavailable.")
        return self._remember(idempotency_key, GatewayResult(True, "re_" + secrets.token_hex(10), ""))

    def refund_status(self, *, payment_ref: str, idempotency_key: str) -> GatewayResult | None:
        from payments.models import SandboxOperation

        op = SandboxOperation.objects.filter(idempotency_key=idempotency_key, kind="refund").first()
        if op is None or op.result is None:
            return None
        return GatewayResult(**op.result)  # type: ignore[arg-type]

    def transfer(self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        _calls, replay = self._operation("transfer", idempotency_key)
        if replay is not None:
            return GatewayResult(**replay)  # type: ignore[arg-type]
        from payments.models import SandboxAccount

        if not SandboxAccount.objects.filter(pk=destination, payouts_enabled=True).exists():
            # Stripe refuses a transfer to an account that cannot receive payouts.
            return self._remember(
                idempotency_key, GatewayResult(False, "", "The destination account cannot receive transfers yet.")
            )
        return self._remember(idempotency_key, GatewayResult(True, "tr_" + secrets.token_hex(10), ""))

    def transfer_status(self, transfer_ref: str) -> GatewayResult | None:
        from payments.models import SandboxOperation

        op = SandboxOperation.objects.filter(kind="transfer", result__gateway_ref=transfer_ref).first()
        return GatewayResult(**op.result) if op is not None and op.result else None  # type: ignore[arg-type]

    def events_since(self, since: datetime) -> list[tuple[str, str]]:
        from payments.models import SandboxEvent

        return list(SandboxEvent.objects.filter(created_at__gte=since).values_list("id", "type"))

    # --- connected accounts ------------------------------------------------------------------
    def account_create(self, *, email: str, idempotency_key: str) -> str:
        from payments.models import SandboxAccount

        account, _ = SandboxAccount.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"id": "acct_sandbox_" + secrets.token_hex(8), "email": email}
        )
        return account.id

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"return_url": return_url, "refresh_url": refresh_url})
        return _origin(return_url) + reverse("payments:sandbox_onboarding", args=[account_id]) + "?" + query

    def account_retrieve(self, account_id: str) -> AccountState:
        from payments.models import SandboxAccount

        account = SandboxAccount.objects.get(pk=account_id)
        return AccountState(account.id, account.payouts_enabled, account.payouts_enabled)

    def onboard(self, account_id: str) -> None:
        """The onboarding page's "finish" button: the account can receive payouts."""
        from payments.models import SandboxAccount

        if SandboxAccount.objects.filter(pk=account_id, payouts_enabled=False).update(payouts_enabled=True):
            sandbox_event(
                "account.updated",
                {"id": account_id, "object": "account", "payouts_enabled": True, "details_submitted": True},
            )


def _session_object(session: Any) -> dict[str, Any]:
    """A checkout session as Stripe's API writes it in an event."""
    return {
        "id": session.id,
        "object": "checkout.session",
        "amount_total": session.amount_minor,
        "currency": session.currency.lower(),
        "client_reference_id": session.client_reference_id,
        "status": session.status,
        "payment_status": "paid" if session.status == "complete" else "unpaid",
        "payment_intent": session.payment_ref or None,
        "expires_at": int(session.expires_at.timestamp()),
    }


SANDBOX_DELIVER_JOB = "payments.sandbox_deliver"


def sandbox_event(kind: str, obj: dict[str, Any]) -> None:
    """Record an event like Stripe's and queue its delivery to our webhook (in the caller's
    transaction: an event exists only for something that happened)."""
    from outbox.services import job_enqueue
    from payments.models import SandboxEvent

    event_id = "evt_sandbox_" + secrets.token_hex(12)
    payload = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2025-01-27",
        "data": {"object": obj},
    }
    SandboxEvent.objects.create(id=event_id, type=kind, payload=payload)
    job_enqueue(kind_name=SANDBOX_DELIVER_JOB, payload={"event_id": event_id}, idempotency_key=f"deliver:{event_id}")


def sandbox_deliver(*, event_id: str) -> None:
    """POST one event to our webhook over HTTP, signed, as Stripe does (the queue retries it
    while the site is down). Delivered events are not sent again by the job."""
    import urllib.request

    from payments.models import SandboxEvent

    event = SandboxEvent.objects.filter(pk=event_id, delivered_at__isnull=True).first()
    if event is None:
        return
    body = json.dumps(event.payload)
    url = settings.SANDBOX_WEBHOOK_URL or settings.SITE_URL.rstrip("/") + reverse("payments:webhook")
    if not url.startswith(("http://", "https://")):
        raise ValueError("SANDBOX_WEBHOOK_URL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (checked above)
        url,
        data=body.encode(),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign_payload(body, settings.SANDBOX_WEBHOOK_SECRET),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status >= 300:
            raise TransientGatewayError(f"webhook answered {response.status}")
    SandboxEvent.objects.filter(pk=event_id).update(delivered_at=timezone.now())


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else settings.SITE_URL.rstrip("/")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def get_gateway() -> Gateway:
    gateway: Gateway = import_string(settings.PAYMENT_GATEWAY)()
    return gateway
