"""The money ledger: payments and refunds in integer minor units, each with an idempotency key.

payments/ never imports bookings/: a payment names what it pays for by `reference` (the
appointment id as text), so its rows stand on their own.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from appointly.core import BaseModel


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    DECLINED = "declined", "Declined"
    FAILED = "failed", "Failed"


class Payment(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=64, db_index=True, help_text="What is paid for (appointment id).")
    # Whose earnings this is (the provider's id, as the caller names it): earnings cards.
    payee = models.CharField(max_length=64, blank=True, db_index=True)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    idempotency_key = models.CharField(max_length=80, unique=True)
    gateway = models.CharField(max_length=20)
    gateway_ref = models.CharField(max_length=80, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    # The gateway's hosted payment page for this payment (created when the customer presses Pay;
    # pressing it again returns to the same page while it is open).
    checkout_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    # When the charge went through: the moment gross earnings count (docs/adr/0009). Its own
    # column, because `updated_at` moves with any later write to the row.
    succeeded_at = models.DateTimeField(null=True, blank=True)
    # The payout that passed this payment on to the provider; empty until then.
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="payments")

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            # The earnings cards and the revenue chart read one provider's payments in a date range.
            models.Index(
                fields=("payee", "succeeded_at"),
                condition=Q(status="succeeded"),
                name="payment_payee_succeeded_idx",
            )
        ]
        constraints = [
            # Nothing is charged twice: at most one payment in flight or succeeded per reference.
            models.UniqueConstraint(
                fields=("reference",),
                condition=Q(status__in=["pending", "succeeded"]),
                name="payment_one_live_per_reference",
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} {self.status} ({self.reference})"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Failed (needs attention)"


class Refund(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    # Copied from the payment, so a provider's refunds of a month are one index range.
    payee = models.CharField(max_length=64, blank=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255)
    status = models.CharField(max_length=12, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    idempotency_key = models.CharField(max_length=80, unique=True)
    gateway_ref = models.CharField(max_length=80, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the money went back: the moment a refund subtracts from earnings (docs/adr/0009).
    succeeded_at = models.DateTimeField(null=True, blank=True)
    # The payout it was deducted from (a refund after its payment was paid out comes off the next).
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(
                fields=("payee", "succeeded_at"),
                condition=Q(status="succeeded"),
                name="refund_payee_succeeded_idx",
            )
        ]
        constraints = [models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.amount_minor} {self.currency} {self.status}"


class CustomerTotal(models.Model):
    """What one customer has paid, had back and has coming back, in one currency: the account
    page's money cards without reading the customer's whole history (docs/adr/0027).

    On PostgreSQL the database keeps these rows: triggers on payments and refunds add each
    row's change at commit (migration 0009); nothing in Python writes them. The definition
    stays the sum over the ledger (`bookings.selectors.account_summary` counts it so on SQLite,
    and the tests hold the two equal after any sequence of operations).
    """

    pk = models.CompositePrimaryKey("customer", "currency")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    paid_minor = models.BigIntegerField(default=0)  # payments succeeded
    refunded_minor = models.BigIntegerField(default=0)  # refunds succeeded
    refund_pending_minor = models.BigIntegerField(default=0)  # refunds on their way

    def __str__(self) -> str:
        return f"customer {self.customer_id}: {self.paid_minor} {self.currency} paid"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Being transferred"
    TRANSFERRED = "transferred", "Transferred"
    FAILED = "failed", "Failed"


class Payout(BaseModel):
    """Funds transferred to a provider's account (recorded by staff, or made by the payout run
    from settled payments less refunds and the platform fee, then transferred by a job)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=120, blank=True, help_text="e.g. the period it covers")
    idempotency_key = models.CharField(max_length=80, unique=True, default=uuid.uuid4)
    payee = models.CharField(max_length=64, blank=True, help_text="The provider's id (the payments' payee).")
    status = models.CharField(max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.TRANSFERRED)
    fee_minor = models.PositiveIntegerField(default=0)
    gateway_ref = models.CharField(max_length=80, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payout_amount_positive")]

    def __str__(self) -> str:
        return f"payout {self.amount_minor} {self.currency} to {self.recipient_id}"


class WebhookEvent(models.Model):
    """A gateway event received at the webhook: stored in the transaction that applies it, so
    each event id changes the ledger once, however often the gateway delivers it."""

    event_id = models.CharField(max_length=255, unique=True)
    gateway = models.CharField(max_length=20)
    type = models.CharField(max_length=80)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class ReconciliationRun(models.Model):
    """One comparison of the ledger with the gateway (`reconcile_payments`, daily by beat):
    what was checked and every difference found, for operators in the admin."""

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField(auto_now_add=True)
    since = models.DateTimeField()
    checked = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list)

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M}: {len(self.differences)} differences"


class SandboxOperation(models.Model):
    """The sandbox gateway's own memory (its "server side"): replays answers by idempotency key."""

    idempotency_key = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10)
    calls = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class SandboxCheckout(models.Model):
    """A hosted payment page of the sandbox gateway (like a Stripe Checkout Session)."""

    id = models.CharField(max_length=64, primary_key=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    client_reference_id = models.CharField(max_length=64, db_index=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255)
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, default="open")  # open / complete / expired
    payment_ref = models.CharField(max_length=64, blank=True)
    card_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.id} {self.status}"


class SandboxAccount(models.Model):
    """A provider's connected account at the sandbox gateway (like a Stripe Express account)."""

    id = models.CharField(max_length=64, primary_key=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    email = models.EmailField(blank=True)
    payouts_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class SandboxEvent(models.Model):
    """An event the sandbox gateway sends to our webhook (like Stripe's events list)."""

    id = models.CharField(max_length=64, primary_key=True)
    type = models.CharField(max_length=80)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
