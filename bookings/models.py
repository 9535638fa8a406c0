"""Appointments, their event log, reschedule requests, and the provider time they claim.

Appointments and pending reschedule requests are the only record that a time is taken: each
owns a `TimeClaim` row while it holds the time. No two claims of a provider overlap, and the
database says so (an exclusion constraint on PostgreSQL, triggers on SQLite; migration 0006).
Slots are offers only: they can be deleted and rebuilt whatever the history. See docs/adr/0011.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from appointly.core import BaseModel
from providers.models import Provider, Service
from providers.policy import RefundPolicy


class AppointmentStatus(models.TextChoices):
    HELD = "held", "Awaiting payment"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Hold expired"
    COMPLETED = "completed", "Attended"
    NO_SHOW = "no_show", "No-show"


_STATUS_LABELS: dict[str, str] = {str(value): str(label) for value, label in AppointmentStatus.choices}
ACTIVE_STATUSES = (AppointmentStatus.HELD, AppointmentStatus.CONFIRMED)
# Attendance can be marked, and corrected either way, on these.
MARKABLE_STATUSES = (AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


class CancelledBy(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PROVIDER = "provider", "Provider"


class Appointment(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField()
    end = models.DateTimeField()
    # Provider-local date of the start: the per-day limit of the service counts by it.
    local_date = models.DateField()
    status = models.CharField(max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.HELD)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    # The price is copied from the service when booking: nobody else sets it.
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # The refund policy as shown when the time was held: later policy edits apply to later
    # bookings only (the promise made to this customer stands).
    refund_full_hours = models.PositiveIntegerField(default=24)
    refund_partial_hours = models.PositiveIntegerField(default=2)
    refund_partial_percent = models.PositiveIntegerField(default=50)
    # From the confirm form: a repeated submit (double click, retry) finds the same row.
    idempotency_key = models.CharField(max_length=80, unique=True)
    cancelled_by = models.CharField(max_length=10, choices=CancelledBy.choices, blank=True)
    cancel_reason = models.CharField(max_length=255, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Who to expect, as the customer gave it on the confirm page (prefilled from their last
    # booking): shown to the provider instead of a bare email.
    customer_name = models.CharField(max_length=120, blank=True)
    customer_phone = models.CharField(max_length=20, blank=True)  # E.164
    notes = models.TextField(blank=True, max_length=500)
    # When the customer checked in with the provider's QR code or the provider marked them
    # attended; empty otherwise (also after a correction to no-show).
    checked_in_at = models.DateTimeField(null=True, blank=True)
    # Booked by the provider for a walk-in or a phone call, to be paid at the venue: confirmed
    # without an online payment, so cancelling it refunds nothing (nothing was taken).
    pay_at_venue = models.BooleanField(default=False)
    # Made by the provider (a walk-in or a phone call): such a booking still held for its
    # payment link is the provider's to cancel.
    booked_by_provider = models.BooleanField(default=False)
    # When the provider recorded the venue payment ("Mark paid"); empty until then.
    venue_paid_at = models.DateTimeField(null=True, blank=True)
    # When the provider last moved it to another time: until it starts the customer may turn
    # the new time down, which cancels it with everything paid given back.
    moved_by_provider_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("start",)
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="appointment_end_after_start"),
            models.CheckConstraint(
                condition=Q(refund_full_hours__gte=F("refund_partial_hours"), refund_partial_percent__lte=100),
                name="appointment_refund_policy_valid",
            ),
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

    @property
    def refund_policy(self) -> RefundPolicy:
        """The policy copied when the time was held: what this customer was promised."""
        return RefundPolicy(self.refund_full_hours, self.refund_partial_hours, self.refund_partial_percent)

    def get_status_display(self) -> str:  # type: ignore[no-redef]
        """The status's label, as Django's generated method answers it, from a table made
        once (Django's builds a dict of the choices on every call: a list of 40 appointments
        asks 40 times)."""
        return _STATUS_LABELS.get(self.status, self.status)

    @property
    def money_words(self) -> str:
        """How the appointment stands with its money, in words (the provider's day and list)."""
        cancelled = self.status == AppointmentStatus.CANCELLED
        if not self.price_minor:
            return "free"
        if self.status == AppointmentStatus.HELD:
            return "unpaid"
        if self.pay_at_venue and not self.venue_paid_at:
            return "" if cancelled else "to pay at the venue"
        if self.venue_paid_at:
            return "paid at the venue"
        return "" if cancelled else "paid"

    @property
    def customer_label(self) -> str:
        """How the provider's pages name the customer: the name they gave, else their email."""
        return self.customer_name or self.customer.email

    def changeable_by_customer(self, now: datetime) -> bool:
        """The customer may cancel it or ask to move it until it starts (account list, the
        appointment page; the cancel and reschedule services refuse otherwise)."""
        return self.status == AppointmentStatus.CONFIRMED and self.start > now

    def attendance_markable(self, now: datetime) -> bool:
        """The provider may mark attended or no-show (or correct either) once it has started
        (the day view's buttons and the attendance service both ask this)."""
        return self.status in MARKABLE_STATUSES and self.start <= now

    def cancellable_by_provider(self, now: datetime) -> bool:
        """A provider may cancel a confirmed appointment until it starts, and a booking of their
        own still held for its payment link (day and week views, the bulk-cancel confirmation and
        the bulk cancel itself all ask this)."""
        held_by_them = self.status == AppointmentStatus.HELD and self.booked_by_provider
        return (self.status == AppointmentStatus.CONFIRMED or held_by_them) and self.start > now

    @property
    def paid_online_minor(self) -> int:
        """What was taken online for it, the most a cancellation can give back: nothing for a
        hold not paid yet, a booking paid at the venue, or a free one."""
        return 0 if self.pay_at_venue or self.status == AppointmentStatus.HELD else self.price_minor


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
    RESCHEDULE_WITHDRAWN = "reschedule_withdrawn", "Reschedule request withdrawn"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refund issued"
    CHECKED_IN = "checked_in", "Checked in"
    NO_SHOW = "no_show", "No-show"
    MOVED = "moved", "Moved by the provider"


class AppointmentEvent(models.Model):
    """Append-only: every state change of an appointment, written in the same transaction."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    # Copied from the appointment: the dashboard's live poll asks "any event of this provider
    # after id N?", one index probe (`event_provider_id_idx`) however long the history.
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+", null=True)
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("at", "pk")
        indexes = [
            models.Index(fields=("appointment", "at"), name="event_appointment_at_idx"),
            models.Index(fields=("provider", "id"), name="event_provider_id_idx"),
        ]

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
    # The requested time, copied from the offer it was picked from (offers can be rebuilt).
    new_start = models.DateTimeField()
    new_end = models.DateTimeField()
    new_local_date = models.DateField()
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
            models.CheckConstraint(condition=Q(new_end__gt=F("new_start")), name="reschedule_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"reschedule {self.appointment_id} -> {self.new_start.isoformat()} {self.status}"


class TimeClaim(models.Model):
    """A stretch of a provider's time that is taken, owned by exactly one appointment (from
    hold until it is cancelled or its hold expires; attended and no-show appointments keep
    theirs) or one pending reschedule request (its requested time, until answered).

    The database keeps claims of one provider from overlapping: `timeclaim_no_overlap`, an
    exclusion constraint on PostgreSQL and BEFORE INSERT/UPDATE triggers on SQLite (migration
    0006). Django rebuilds a SQLite table on some schema changes, which drops its triggers:
    a migration that alters this table must create them again (tests/bookings/test_claims.py
    fails otherwise).
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    # The service and provider-local date: the service's per-day limit counts claims by these.
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="claim"
    )
    reschedule = models.OneToOneField(
        RescheduleRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="claim"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="timeclaim_end_after_start"),
            models.CheckConstraint(
                condition=Q(appointment__isnull=False, reschedule__isnull=True)
                | Q(appointment__isnull=True, reschedule__isnull=False),
                name="timeclaim_one_owner",
            ),
        ]
        indexes = [
            models.Index(fields=("provider", "start"), name="timeclaim_provider_start_idx"),
            # The overlap probe (start < end of the time AND end > its start) bounded by the
            # claims that end after the time starts: the future ones, not the years of history.
            models.Index(fields=("provider", "end"), name="timeclaim_provider_end_idx"),
            models.Index(fields=("service", "local_date"), name="timeclaim_service_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.start.isoformat()}-{self.end.isoformat()}"


class CustomerAttendance(models.Model):
    """How many of a customer's appointments were attended: the account page's card without
    counting the customer's whole history (docs/adr/0027).

    On PostgreSQL a trigger on appointments keeps this row at commit (migration 0013); nothing
    in Python writes it. The definition stays the count of completed appointments
    (`bookings.selectors.account_summary` counts it so on SQLite, and the tests hold the two
    equal after any sequence of operations).
    """

    customer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    attended = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"customer {self.customer_id}: {self.attended} attended"
