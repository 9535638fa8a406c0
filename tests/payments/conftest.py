"""Fixtures of the payments tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.payments.fake_stripe import WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeStripe]:
    """The Stripe gateway on, against a local fake of Stripe's API."""
    server = FakeStripe().start()
    settings.PAYMENT_GATEWAY = "payments.stripe_gateway.StripeGateway"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    yield server
    server.stop()


def stray_checkout(gateway: Any, amount_minor: int = 700) -> Any:
    """A hosted page opened at the gateway for nothing in our ledger (reconciliation's case)."""
    return gateway.checkout_create(
        amount_minor=amount_minor,
        currency="EUR",
        description="not ours",
        client_reference_id="nobody",
        customer_email="",
        success_url="http://testserver/back",
        cancel_url="http://testserver/cancel",
        expires_at=timezone.now() + timedelta(hours=1),
        idempotency_key=f"stray-{amount_minor}-{timezone.now().timestamp()}",
    )
