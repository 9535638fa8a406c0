"""Appointments, their event log and reschedule requests.

No double booking is enforced by the database: a partial unique constraint (one active
appointment per slot) everywhere, and on PostgreSQL an exclusion constraint over
(provider, time range) for active appointments (migration 0002). See docs/adr/0005.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from appointly.core import BaseModel
from providers.models import Provider, Service, Slot


class AppointmentStatus(models.TextChoices):
    HELD = "held", "Awaiting payment"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Hold expired"
    COMPLETED = "completed", "Attended"
    NO_SHOW = "no_show", "No-show"


ACTIVE_STATUSES = (AppointmentStatus.HELD, AppointmentStatus.CONFIRMED)


class CancelledBy(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PROVIDER = "provider", "Provider"


class Appointment(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.HELD)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    # The price is copied from the service when booking: nobody else sets it.
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # From the confirm form: a repeated submit (double click, retry) finds the same row.
    idempotency_key = models.CharField(max_length=80, unique=True)
    cancelled_by = models.CharField(max_length=10, choices=CancelledBy.choices, blank=True)
    cancel_reason = models.CharField(max_length=255, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("start",)
        constraints = [
            models.UniqueConstraint(
                fields=("slot",),
                condition=Q(status__in=["held", "confirmed"]),
                name="appointment_one_active_per_slot",
            ),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="appointment_end_after_start"),
        ]
        indexes = [
            models.Index(fields=("customer", "start"), name="appointment_customer_start_idx"),
            models.Index(fields=("provider", "start"), name="appointment_provider_start_idx"),
            # The dashboard's "cancellations this month" reads a date range of these.
            models.Index(
                fields=("provider", "cancelled_at"),
                condition=Q(status="cancelled"),
                name="appointment_prov_cancel_idx",
            ),
            models.Index(fields=("status", "hold_expires_at"), name="appointment_status_hold_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.start.isoformat()} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def cancellable_by_provider(self, now: datetime) -> bool:
        """A provider may cancel a confirmed appointment until it starts (day and week views,
        the bulk-cancel confirmation and the bulk cancel itself all ask this)."""
        return self.status == AppointmentStatus.CONFIRMED and self.start > now


class EventKind(models.TextChoices):
    CREATED = "created", "Booking started"
    HELD = "held", "Time held while paying"
    PAYMENT_FAILED = "payment_failed", "Payment not completed"
    PAID = "paid", "Paid"
    CONFIRMED = "confirmed", "Confirmed"
    HOLD_EXPIRED = "hold_expired", "Hold expired"
    RESCHEDULE_REQUESTED = "reschedule_requested", "Reschedule requested"
    RESCHEDULE_ACCEPTED = "reschedule_accepted", "Reschedule accepted"
    RESCHEDULE_DECLINED = "reschedule_declined", "Reschedule declined"
    RESCHEDULE_EXPIRED = "reschedule_expired", "Reschedule request expired"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refund issued"
    CHECKED_IN = "checked_in", "Checked in"
    NO_SHOW = "no_show", "No-show"


class AppointmentEvent(models.Model):
    """Append-only: every state change of an appointment, written in the same transaction."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("at", "pk")
        indexes = [models.Index(fields=("appointment", "at"), name="event_appointment_at_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.at.isoformat()}"


class RescheduleStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the provider"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class RescheduleRequest(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reschedule_requests")
    new_slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="reschedule_requests")
    status = models.CharField(max_length=10, choices=RescheduleStatus.choices, default=RescheduleStatus.PENDING)
    # The request lapses when the original appointment starts.
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("appointment",), condition=Q(status="pending"), name="reschedule_one_pending_per_appointment"
            ),
            models.UniqueConstraint(
                fields=("new_slot",), condition=Q(status="pending"), name="reschedule_one_pending_per_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"reschedule {self.appointment_id} -> {self.new_slot_id} {self.status}"
