"""Stripe behind the gateway interface: Checkout Sessions (Stripe's hosted page, no Stripe.js,
so nothing loads from a CDN), refunds, Connect Express accounts and transfers (separate charges
and transfers). On when PAYMENT_GATEWAY names this class and STRIPE_SECRET_KEY and
STRIPE_WEBHOOK_SECRET are set (.env.example).

Every call is made with `max_network_retries=0`: nothing sleeps inside a web request. A
connection error, a rate limit or a Stripe 5xx is a TransientGatewayError (retry later with the
same idempotency key, which Stripe answers with its first response)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.gateways import AccountState, Checkout, GatewayResult, TransientGatewayError


def _call[T](fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise TransientGatewayError(str(exc)) from exc
    except stripe.APIError as exc:  # Stripe's own 5xx
        raise TransientGatewayError(str(exc)) from exc


def _checkout(session: Any) -> Checkout:
    return Checkout(
        id=session["id"],
        url=session.get("url") or "",
        status=session.get("status") or "open",
        paid=session.get("payment_status") in ("paid", "no_payment_required"),
        payment_ref=str(session.get("payment_intent") or ""),
        client_reference_id=str(session.get("client_reference_id") or ""),
    )


class StripeGateway:
    name = "stripe"

    def __init__(self) -> None:
        if not settings.STRIPE_SECRET_KEY or not settings.STRIPE_WEBHOOK_SECRET:
            raise ImproperlyConfigured("The Stripe gateway needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,
        )

    @property
    def webhook_secret(self) -> str:
        return str(settings.STRIPE_WEBHOOK_SECRET)

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
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description[:250]},
                    },
                }
            ],
            "client_reference_id": client_reference_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
            "metadata": {"payment_id": client_reference_id},
            "payment_intent_data": {"metadata": {"payment_id": client_reference_id}},
        }
        if customer_email and not customer_email.endswith(".invalid"):
            params["customer_email"] = customer_email
        session = _call(
            lambda: self.client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"checkout-{idempotency_key}"},
            )
        )
        return _checkout(session)

    def checkout_retrieve(self, session_id: str) -> Checkout:
        return _checkout(_call(lambda: self.client.v1.checkout.sessions.retrieve(session_id)))

    def checkout_expire(self, session_id: str) -> Checkout:
        try:
            return _checkout(_call(lambda: self.client.v1.checkout.sessions.expire(session_id)))
        except stripe.InvalidRequestError:
            # Only open sessions can be expired: this one was paid (or expired) meanwhile.
            return self.checkout_retrieve(session_id)

    def checkouts_since(self, since: datetime) -> list[Checkout]:
        page = _call(
            lambda: self.client.v1.checkout.sessions.list(
                params={"created": {"gte": int(since.timestamp())}, "status": "complete", "limit": 100}
            )
        )
        return [_checkout(s) for s in page.auto_paging_iter() if s.get("payment_status") == "paid"]

    def refund(self, *, payment_ref: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        try:
            refund = _call(
                lambda: self.client.v1.refunds.create(
                    params={
                        "payment_intent": payment_ref,
                        "amount": amount_minor,
                        "metadata": {"refund_key": idempotency_key},
                    },
                    options={"idempotency_key": f"refund-{idempotency_key}"},
                )
            )
        except stripe.InvalidRequestError as exc:
            return GatewayResult(False, "", str(exc.user_message or exc))
        return GatewayResult(refund.get("status") in ("succeeded", "pending"), refund["id"], "")

    def refund_status(self, *, payment_ref: str, idempotency_key: str) -> GatewayResult | None:
        if not payment_ref:
            return None
        page = _call(lambda: self.client.v1.refunds.list(params={"payment_intent": payment_ref, "limit": 100}))
        for refund in page.auto_paging_iter():
            if (refund.get("metadata") or {}).get("refund_key") == idempotency_key:
                return GatewayResult(refund.get("status") in ("succeeded", "pending"), refund["id"], "")
        return None

    def transfer(self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        try:
            transfer = _call(
                lambda: self.client.v1.transfers.create(
                    params={"amount": amount_minor, "currency": currency.lower(), "destination": destination},
                    options={"idempotency_key": f"transfer-{idempotency_key}"},
                )
            )
        except stripe.InvalidRequestError as exc:
            return GatewayResult(False, "", str(exc.user_message or exc))
        return GatewayResult(True, transfer["id"], "")

    def transfer_status(self, transfer_ref: str) -> GatewayResult | None:
        try:
            transfer = _call(lambda: self.client.v1.transfers.retrieve(transfer_ref))
        except stripe.InvalidRequestError:
            return None
        return GatewayResult(not transfer.get("reversed"), transfer["id"], "")

    def events_since(self, since: datetime) -> list[tuple[str, str]]:
        page = _call(
            lambda: self.client.v1.events.list(params={"created": {"gte": int(since.timestamp())}, "limit": 100})
        )
        return [(e["id"], e["type"]) for e in page.auto_paging_iter()]

    def account_create(self, *, email: str, idempotency_key: str) -> str:
        params: dict[str, Any] = {"type": "express", "capabilities": {"transfers": {"requested": True}}}
        if email and not email.endswith(".invalid"):
            params["email"] = email
        account = _call(
            lambda: self.client.v1.accounts.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"account-{idempotency_key}"},
            )
        )
        return str(account["id"])

    def account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        link = _call(
            lambda: self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return str(link["url"])

    def account_retrieve(self, account_id: str) -> AccountState:
        account = _call(lambda: self.client.v1.accounts.retrieve(account_id))
        return AccountState(account["id"], bool(account.get("payouts_enabled")), bool(account.get("details_submitted")))
