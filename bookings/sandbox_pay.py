"""Paying a held appointment through the sandbox gateway without a browser: what a customer
does on the hosted page, then the webhook. For the demo data, the fault drill and tests."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.models import User
from bookings.models import Appointment
from bookings.services import appointment_checkout
from payments.gateways import CARD_SUCCESS, SandboxGateway
from payments.webhooks import sandbox_deliver_now


def pay_in_sandbox(
    appointment: Appointment, customer: User, *, card: str = CARD_SUCCESS, deliver: bool = True, **checkout: Any
) -> str:
    """Press Pay, type `card` on the sandbox's page and (`deliver`) let its webhook arrive.
    Returns the page's error ("" when paid)."""
    site = settings.SITE_URL.rstrip("/")
    started = appointment_checkout(
        appointment=appointment,
        customer=customer,
        payment_key=checkout.pop("payment_key", str(uuid.uuid4())),
        success_url=checkout.pop("success_url", site + reverse("bookings:pay_return", args=[appointment.pk])),
        cancel_url=checkout.pop("cancel_url", site + reverse("bookings:pay", args=[appointment.pk])),
        **checkout,
    )
    if started.payment is None or not started.url:
        return ""  # already paid
    error = SandboxGateway().pay(started.payment.checkout_session_id, card)
    if deliver:
        sandbox_deliver_now()
    return error
