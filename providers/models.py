"""Providers, their business hours, services and stored slots.

Wall-clock availability (WeeklyInterval, HoursException) is provider-local time interpreted
in the provider's IANA zone; slot instants are stored in UTC. See docs/adr/0001.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from appointly.core import BaseModel
from appointly.money import format_money
from providers.policy import RefundPolicy


def new_qr_token() -> str:
    """192 random bits: what a provider's printed QR code carries (never the id or slug)."""
    return secrets.token_urlsafe(24)


def qr_token_digest(token: str) -> str:
    """What /mark looks a code up by: the database compares digests, so the time a lookup takes
    says nothing about how much of a real code a guess matched (docs/adr/0013)."""
    return hashlib.sha256(token.encode()).hexdigest()


def qr_token_fields() -> dict[str, str]:
    """A fresh code, as the two fields that must always change together."""
    token = new_qr_token()
    return {"qr_token": token, "qr_token_digest": qr_token_digest(token)}


class OnboardingStep(models.TextChoices):
    PROFILE = "profile", "Profile"
    HOURS = "hours", "Business hours"
    SERVICE = "service", "First service"
    DONE = "done", "Done"


class Provider(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider")
    business_name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    description = models.TextField(blank=True)
    timezone = models.CharField(max_length=64, help_text="IANA zone, e.g. Europe/Berlin")
    phone = models.CharField(max_length=20, help_text="E.164, e.g. +4915112345678")
    # Empty for a provider who only works online.
    address = models.CharField(max_length=255, blank=True)
    # The check-in code in clear (the provider's QR page draws it) and its digest (what /mark
    # looks up). Always written together: `qr_token_fields()`.
    qr_token = models.CharField(max_length=64, unique=True, default=new_qr_token, editable=False)
    qr_token_digest = models.CharField(max_length=64, db_index=True, default="", editable=False)
    # Automatic no-shows are opt-in: set when the provider switches them on, and only
    # appointments that end after this moment are ever marked (docs/adr/0013).
    auto_no_show_since = models.DateTimeField(null=True, blank=True)
    # The wizard's saved position: after each step the next one is stored here, so a provider
    # who leaves at step 2 comes back to step 2.
    onboarding_step = models.CharField(max_length=16, choices=OnboardingStep.choices, default=OnboardingStep.HOURS)
    # The provider's connected account at the payment gateway (Stripe Connect Express), where
    # payouts are transferred; ready once the gateway says it can receive them.
    payout_account_id = models.CharField(max_length=64, blank=True, db_index=True)
    payout_account_ready = models.BooleanField(default=False)

    class Meta:
        ordering = ("business_name",)

    def __str__(self) -> str:
        return self.business_name

    @property
    def is_onboarded(self) -> bool:
        return self.onboarding_step == OnboardingStep.DONE


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyInterval(models.Model):
    """One opening interval on a weekday, in provider-local wall-clock time.

    Several per weekday make lunch breaks; intervals of one weekday never overlap
    (checked by the form, which knows all of them at once).
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="weekly_intervals")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ("weekday", "start_time")
        constraints = [
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="weeklyinterval_end_after_start"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="weeklyinterval_weekday_valid"),
            models.UniqueConstraint(fields=("provider", "weekday", "start_time"), name="weeklyinterval_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class HoursException(models.Model):
    """A date whose hours differ from the week: closed (no times) or special intervals.

    When any exception row exists for a date, it replaces that weekday's intervals.
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="hours_exceptions")
    date = models.DateField()
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ("date", "start_time")
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__isnull=True, end_time__isnull=True)
                | Q(start_time__isnull=False, end_time__isnull=False, end_time__gt=F("start_time")),
                name="hoursexception_closed_or_valid_interval",
            ),
            models.UniqueConstraint(fields=("provider", "date", "start_time"), name="hoursexception_unique_start"),
        ]

    def __str__(self) -> str:
        if self.start_time is None or self.end_time is None:
            return f"{self.date:%Y-%m-%d} closed"
        return f"{self.date:%Y-%m-%d} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    @property
    def is_closed(self) -> bool:
        return self.start_time is None


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


CURRENCIES = [
    ("EUR", "EUR — Euro"),
    ("USD", "USD — US dollar"),
    ("GBP", "GBP — Pound sterling"),
    ("CHF", "CHF — Swiss franc"),
    ("JPY", "JPY — Japanese yen"),
    ("AUD", "AUD — Australian dollar"),
    ("CAD", "CAD — Canadian dollar"),
    ("INR", "INR — Indian rupee"),
    ("BRL", "BRL — Brazilian real"),
    ("SEK", "SEK — Swedish krona"),
]


MAX_DURATION_MINUTES = 12 * 60
# No appointment, claim or offer is longer: reads bound their index ranges by it (the day view,
# the account page's upcoming list, a service's claims: docs/adr/0030).
LONGEST_APPOINTMENT = timedelta(minutes=MAX_DURATION_MINUTES)
MIN_DURATION_MINUTES = 5
MAX_BUFFER_MINUTES = 240
MAX_NOTICE_MINUTES = 60 * 24 * 14
MAX_WINDOW_DAYS = 90
MAX_PRICE_MINOR = 100_000_000
MAX_PER_DAY = 500


class PaymentMode(models.TextChoices):
    ONLINE = "online", "Paid online when booking"
    VENUE = "venue", "Paid at the venue"
    FREE = "free", "Free"


class Service(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="services")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=160, unique=True)
    description = models.TextField(blank=True)
    duration_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(MIN_DURATION_MINUTES), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    price_minor = models.PositiveIntegerField(help_text="Price in minor units (cents).")
    currency = models.CharField(max_length=3, choices=CURRENCIES, default="EUR")
    # How customers pay: online when booking (the time is held while they pay), at the venue
    # (booked at once; the provider marks it paid), or not at all (free: the price is 0).
    payment_mode = models.CharField(max_length=8, choices=PaymentMode.choices, default=PaymentMode.ONLINE)
    max_appointments_per_day = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PER_DAY)], default=8
    )
    buffer_before_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)])
    buffer_after_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)])
    min_notice_minutes = models.PositiveIntegerField(default=60, validators=[MaxValueValidator(MAX_NOTICE_MINUTES)])
    booking_window_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)]
    )
    # Cancellation/refund policy: full refund at least `refund_full_hours` before the start,
    # `refund_partial_percent` at least `refund_partial_hours` before, nothing after that.
    refund_full_hours = models.PositiveIntegerField(
        default=24, validators=[MaxValueValidator(MAX_NOTICE_MINUTES // 60)]
    )
    refund_partial_hours = models.PositiveIntegerField(default=2)
    refund_partial_percent = models.PositiveIntegerField(default=50, validators=[MaxValueValidator(100)])
    location = models.CharField(max_length=255, blank=True, help_text="Blank means the provider's address.")
    # Held online (a video call): no address needed, and the pages say so.
    is_online = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    # Slots exist for every provider-local date up to and including this one (top-up marker).
    slots_generated_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="service_duration_positive"),
            models.CheckConstraint(
                condition=Q(payment_mode="free", price_minor=0) | (~Q(payment_mode="free") & Q(price_minor__gt=0)),
                name="service_price_positive_unless_free",
            ),
            models.CheckConstraint(condition=Q(max_appointments_per_day__gt=0), name="service_per_day_positive"),
            models.CheckConstraint(
                condition=Q(refund_full_hours__gte=F("refund_partial_hours")), name="service_refund_tiers_ordered"
            ),
            # The limits the service layer checks (providers.rules), held by the database too,
            # so nothing (admin, API, a bug) can store a service the slot generator cannot handle.
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=MIN_DURATION_MINUTES, duration_minutes__lte=MAX_DURATION_MINUTES),
                name="service_duration_in_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    buffer_before_minutes__lte=MAX_BUFFER_MINUTES, buffer_after_minutes__lte=MAX_BUFFER_MINUTES
                ),
                name="service_buffers_in_range",
            ),
            models.CheckConstraint(condition=Q(price_minor__lte=MAX_PRICE_MINOR), name="service_price_in_range"),
            models.CheckConstraint(
                condition=Q(max_appointments_per_day__lte=MAX_PER_DAY), name="service_per_day_in_range"
            ),
            models.CheckConstraint(
                condition=Q(booking_window_days__gte=1, booking_window_days__lte=MAX_WINDOW_DAYS),
                name="service_window_in_range",
            ),
            models.CheckConstraint(
                condition=Q(min_notice_minutes__lte=MAX_NOTICE_MINUTES), name="service_notice_in_range"
            ),
            models.CheckConstraint(
                condition=Q(refund_partial_percent__lte=100, refund_full_hours__lte=MAX_NOTICE_MINUTES // 60),
                name="service_refund_in_range",
            ),
            # What a slot's composite key references: its (service, provider) pair is a real one.
            models.UniqueConstraint(fields=("id", "provider"), name="service_id_provider_unique"),
        ]
        indexes = [models.Index(fields=("is_active", "name"), name="service_active_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def where(self) -> str:
        if self.is_online:
            return "Online: the provider sends you the link"
        return self.location or self.provider.address or "Ask the provider"

    @property
    def price_display(self) -> str:
        if self.payment_mode == PaymentMode.FREE:
            return "Free"
        shown = format_money(self.price_minor, self.currency)
        return f"{shown}, paid at the venue" if self.payment_mode == PaymentMode.VENUE else shown

    @property
    def refund_policy(self) -> RefundPolicy:
        return RefundPolicy(self.refund_full_hours, self.refund_partial_hours, self.refund_partial_percent)

    @property
    def refund_policy_text(self) -> list[str]:
        return self.refund_policy.lines


class Slot(models.Model):
    """An offer: a stretch of time of one service that may be booked. Instants in UTC;
    `slot_date` is provider-local.

    A slot records nothing about bookings: whether it can be booked right now is decided by
    `bookings.availability` (claims, notice, window, per-day limit, closed dates), so slots
    can be deleted and rebuilt at any moment (docs/adr/0011)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A top-up writes hundreds of thousands of rows, and every index and key check is paid per
    # row (docs/adr/0025). So: one key check, not two — on PostgreSQL a composite foreign key
    # (service_id, provider_id) -> service (id, provider_id), added by migration 0009 because
    # Django declares only single-column ones; it also proves the denormalised provider is
    # the service's. And two indexes: the primary key and the unique (service, start), which
    # serves every read by service (a bounded range from "now"); no read goes by provider.
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="slots", db_index=False, db_constraint=False
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.CASCADE, related_name="slots", db_index=False, db_constraint=False
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    slot_date = models.DateField(help_text="Provider-local date of the start.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("start",)
        constraints = [
            # Makes generation idempotent: a second run cannot add the same slot again.
            models.UniqueConstraint(fields=("service", "start"), name="slot_service_start_unique"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.start.isoformat()}"


def new_challenge_id() -> str:
    return secrets.token_urlsafe(32)


class ProviderLoginChallenge(models.Model):
    """An OTP session of the provider sign-in: the password step passed, the emailed code not yet.

    Stores only an HMAC of the code (keyed by SECRET_KEY and this row's id), never the code or
    the password. The id appears in the URL; `browser_hash` ties it to the browser that passed
    the password step. See docs/adr/0006.
    """

    id = models.CharField(primary_key=True, max_length=64, default=new_challenge_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_challenges")
    code_hash = models.CharField(max_length=64)
    browser_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    sends = models.PositiveSmallIntegerField(default=1)
    last_sent_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=("expires_at",), name="challenge_expires_idx")]

    def __str__(self) -> str:
        return f"login challenge for user {self.user_id}"
