"""Booking: hold a time, pay for it on the gateway's hosted page, let unpaid holds lapse.

Paying and expiring exclude each other through the appointment row lock: a payment is started
(its ledger row written) only while the hold is live, under that lock, and the expiry job
releases a hold only under it (then closes the gateway's page). A payment that completes for a
hold that lapsed anyway books the time if it is still free, else is refunded in full, in the
transaction that records it (docs/adr/0019).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Role, User
from appointly.compiled import Compiled, as_uuid
from appointly.core import DomainError
from appointly.statements import Writes
from appointly.telemetry import BOOKINGS, traced
from bookings import availability, notify
from bookings.models import Appointment, AppointmentStatus, EventKind, RescheduleRequest, TimeClaim
from bookings.services.common import (
    BookingNotAllowed,
    HoldExpired,
    SlotUnavailable,
    claim_for_appointment,
    event,
    events,
    just_taken,
    lock_appointment,
    lock_customer,
    lock_provider,
    lock_provider_of,
    release_appointment,
    retry_on_conflict,
)
from outbox.services import job_enqueue
from payments.models import Payment, PaymentStatus
from payments.services import (
    PAYMENT_CHECK_JOB,
    PaymentInProgress,
    checkout_open,
    payment_check,
    payment_start,
    payment_succeeded_for,
    payments_stale,
    refund_create,
)
from providers.models import PaymentMode, Provider, Service, Slot
from providers.policy import RefundPolicy


@dataclass(frozen=True)
class Terms:
    """What the customer is shown before holding a time, and what the appointment keeps."""

    price_minor: int
    currency: str
    policy: RefundPolicy
    payment_mode: str = PaymentMode.ONLINE

    @classmethod
    def of(cls, service: Service) -> Terms:
        return cls(service.price_minor, service.currency, service.refund_policy, service.payment_mode)


class TermsChanged(DomainError):
    """The price or the refund policy changed between the confirm page and the hold."""

    def __init__(self, terms: Terms) -> None:
        super().__init__("The provider changed the price or the cancellation terms since you opened this page.")
        self.terms = terms


class SlotGone(SlotUnavailable):
    """The offer does not exist any more (the provider changed the schedule)."""


@dataclass(frozen=True)
class CustomerDetails:
    """Who the provider should expect: a name, a phone (E.164) and a note, all optional."""

    name: str = ""
    phone: str = ""
    notes: str = ""

    def cleaned(self) -> CustomerDetails:
        phone = self.phone.strip()
        if phone:
            try:
                parsed = phonenumbers.parse(phone, None)
            except phonenumbers.NumberParseException:
                parsed = None
            if parsed is None or not phonenumbers.is_valid_number(parsed):
                raise BookingNotAllowed("Enter the phone number in international format, e.g. +351 912 345 678.")
            phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return CustomerDetails(" ".join(self.name.split())[:120], phone, self.notes.strip()[:500])


def _described(kwargs: dict[str, Any], result: Any) -> dict[str, Any]:
    appointment = getattr(result, "appointment", result)
    return {
        "appointment.id": str(appointment.pk),
        "service.id": str(appointment.service_id),
        "provider.id": str(appointment.provider_id),
        "appointment.status": appointment.status,
    }


# The hold's reads, compiled once (ADR 0029): the booking with this key and the customer's live
# holds; the offer, locked, with its service.
_KEY_OR_HOLDS: Compiled[Appointment] = Compiled(
    lambda key, customer_id, now: Appointment.objects.filter(
        Q(idempotency_key=key) | Q(customer_id=customer_id, status=AppointmentStatus.HELD, hold_expires_at__gt=now)
    )
)
_SLOT: Compiled[Slot] = Compiled(
    lambda pk: Slot.objects.select_for_update(of=("self",)).select_related("service").filter(pk=pk)
)


@traced("booking.hold", _described, BOOKINGS)
@retry_on_conflict(just_taken)
def appointment_hold(
    *,
    customer: User,
    slot_id: Any,
    idempotency_key: str,
    expected: Terms | None = None,
    details: CustomerDetails | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Hold a bookable slot for the customer while they pay (a service paid at the venue or free
    is booked at once instead: confirmed, nothing to pay now). Idempotent by key.

    `expected`: the terms the confirm page showed; if the service's differ now, nothing is held
    and TermsChanged carries the new ones. The appointment keeps a copy of the terms, and the
    customer's `details` for the provider."""
    now = now or timezone.now()
    details = (details or CustomerDetails()).cleaned()
    if customer.role != Role.CUSTOMER:
        raise BookingNotAllowed("Provider accounts cannot book appointments. Log in as a customer.")
    try:
        with transaction.atomic():
            lock_customer(customer.pk)
            # The same form (or API call) sent again, or twice at once (the second, let in
            # after the first committed): the first's booking instead of "just taken". In the
            # same query, the customer's live holds, for the limit.
            mine = _KEY_OR_HOLDS.list(key=idempotency_key, customer_id=customer.pk, now=now)
            again = next((a for a in mine if a.idempotency_key == idempotency_key), None)
            if again is not None:
                if again.customer_id != customer.pk:
                    raise BookingNotAllowed("This booking form is not yours. Please start again.")
                return again
            provider = lock_provider_of(Slot, slot_id)
            if provider is None:
                raise SlotGone("This time is no longer offered.")
            _check_hold_limit(len(mine))
            slot = _SLOT.first(pk=as_uuid(slot_id))
            if slot is None:  # deleted by a schedule change while we waited for the lock
                raise SlotGone("This time is no longer offered.")
            service = slot.service
            service.provider = provider
            availability.check_bookable(slot, service, now=now)
            terms = Terms.of(service)
            if expected is not None and expected != terms:
                raise TermsChanged(terms)
            if terms.payment_mode == PaymentMode.ONLINE:
                hold_until = now + timedelta(minutes=settings.BOOKING_HOLD_MINUTES)
                fields: dict[str, Any] = {"status": AppointmentStatus.HELD, "hold_expires_at": hold_until}
            else:  # paid at the venue, or free: nothing to pay now, so booked at once
                fields = {
                    "status": AppointmentStatus.CONFIRMED,
                    "pay_at_venue": terms.payment_mode == PaymentMode.VENUE,
                }
            # The appointment, its claim and its events: one statement on PostgreSQL (ADR 0028)
            writes = Writes()
            appointment = _appointment_row(customer, slot, service, terms, details, idempotency_key, **fields)
            writes.insert([appointment])
            claim_for_appointment(appointment, writes=writes)
            if appointment.status == AppointmentStatus.HELD:
                then = (EventKind.HELD, {"until": hold_until.isoformat()})
            else:
                then = (EventKind.CONFIRMED, {"payment": terms.payment_mode})
            events(appointment, (EventKind.CREATED, {}), then, actor=customer, now=now, writes=writes)
            writes.send()
            if appointment.status == AppointmentStatus.CONFIRMED:
                notify.booked(appointment)
    except IntegrityError as exc:
        # Lost a race the database decided (the same key, or an overlapping claim).
        existing = Appointment.objects.filter(idempotency_key=idempotency_key, customer=customer).first()
        if existing is not None:
            return existing
        raise SlotUnavailable("This time was just taken.") from exc
    return appointment


def _appointment_row(
    customer: User,
    slot: Slot,
    service: Service,
    terms: Terms,
    details: CustomerDetails,
    idempotency_key: str,
    **fields: Any,
) -> Appointment:
    """A new appointment on an offer, with the terms and the details copied onto it; not saved
    (the caller adds it to the change's `Writes`)."""
    return Appointment(
        customer=customer,
        provider_id=slot.provider_id,
        service=service,
        start=slot.start,
        end=slot.end,
        local_date=slot.slot_date,
        price_minor=terms.price_minor,
        currency=terms.currency,
        refund_full_hours=terms.policy.full_hours,
        refund_partial_hours=terms.policy.partial_hours,
        refund_partial_percent=terms.policy.partial_percent,
        idempotency_key=idempotency_key,
        customer_name=details.name,
        customer_phone=details.phone,
        notes=details.notes,
        **fields,
    )


@retry_on_conflict(just_taken)
def appointment_book_for_customer(
    *,
    provider: Provider,
    customer: User,
    slot_id: Any,
    idempotency_key: str,
    details: CustomerDetails | None = None,
    pay_by_link: bool = False,
    now: datetime | None = None,
) -> Appointment:
    """A walk-in or phone booking the provider makes: the same offer definition, locks and
    claims as a customer's booking. Confirmed at once and paid at the venue (nothing is
    charged online, so a cancellation refunds nothing; the customer is told, the provider who
    made it is not); or, `pay_by_link`, held for BOOKING_LINK_HOLD_HOURS (never past the start)
    while the customer pays through the link they are sent, then confirmed like any booking.
    Idempotent by key."""
    now = now or timezone.now()
    details = (details or CustomerDetails()).cleaned()
    existing = Appointment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.provider_id != provider.pk:
            raise BookingNotAllowed("This booking form is not yours. Please start again.")
        return existing
    if customer.role != Role.CUSTOMER:
        raise BookingNotAllowed("That email belongs to a provider account. Use the customer's own email.")
    if pay_by_link and not customer.contact_email:
        raise BookingNotAllowed("A payment link needs the customer's email (they sign in to pay).")
    try:
        with transaction.atomic():
            lock_provider(provider.pk)
            slot = Slot.objects.select_for_update(of=("self",)).filter(pk=slot_id, provider=provider).first()
            if slot is None:
                raise SlotGone("This time is no longer offered.")
            service = Service.objects.select_related("provider").get(pk=slot.service_id)
            availability.check_bookable(slot, service, now=now)
            terms = Terms.of(service)
            free = terms.payment_mode == PaymentMode.FREE
            pay_by_link = pay_by_link and not free  # nothing to pay for a free service
            if pay_by_link:
                until = min(now + timedelta(hours=settings.BOOKING_LINK_HOLD_HOURS), slot.start)
                fields: dict[str, Any] = {"status": AppointmentStatus.HELD, "hold_expires_at": until}
            else:
                fields = {"status": AppointmentStatus.CONFIRMED, "pay_at_venue": not free}
            writes = Writes()  # the appointment, its claim and its events (ADR 0028)
            appointment = _appointment_row(
                customer, slot, service, terms, details, idempotency_key, booked_by_provider=True, **fields
            )
            writes.insert([appointment])
            claim_for_appointment(appointment, writes=writes)
            if pay_by_link:
                then = (EventKind.HELD, {"until": until.isoformat(), "link": True})
            else:
                then = (EventKind.CONFIRMED, {"pay_at_venue": not free})
            created = (EventKind.CREATED, {"via": "provider"})
            events(appointment, created, then, actor=provider.user, now=now, writes=writes)
            writes.send()
            if pay_by_link:
                notify.payment_link(appointment, until=until)
            else:
                notify.booked(appointment, tell_provider=False)
    except IntegrityError as exc:
        existing = Appointment.objects.filter(idempotency_key=idempotency_key, provider=provider).first()
        if existing is not None:
            return existing
        raise SlotUnavailable("This time was just taken.") from exc
    return appointment


@transaction.atomic
def appointment_mark_paid_at_venue(
    *, appointment: Appointment, provider: Provider, now: datetime | None = None
) -> Appointment:
    """The provider records that a pay-at-the-venue appointment was paid (once; again is a no-op)."""
    now = now or timezone.now()
    locked = lock_appointment(appointment.pk)
    if locked.provider_id != provider.pk:
        raise BookingNotAllowed("This appointment is not yours.")
    if not locked.pay_at_venue:
        raise BookingNotAllowed("This appointment is not paid at the venue.")
    if locked.status not in (AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED):
        raise BookingNotAllowed("Only a booked or attended appointment can be marked paid.")
    if locked.venue_paid_at is None:
        locked.venue_paid_at = now
        locked.save(update_fields=["venue_paid_at", "updated_at"])
        event(
            locked,
            EventKind.PAID,
            actor=provider.user,
            now=now,
            via="venue",
            amount_minor=locked.price_minor,
            currency=locked.currency,
        )
    return locked


def _check_hold_limit(live: int) -> None:
    """Inside the customer lock, given the customer's `live` unpaid holds: at most
    BOOKING_MAX_ACTIVE_HOLDS at once."""
    limit = settings.BOOKING_MAX_ACTIVE_HOLDS
    if live >= limit:
        raise BookingNotAllowed(
            f"You already have {limit} unpaid booking{'s' if limit != 1 else ''} waiting. Pay for "
            "one, or let it lapse, before holding another time (see My appointments)."
        )


@dataclass(frozen=True)
class Checkout:
    """Where to send the customer: the gateway's hosted page, or (already paid) nowhere."""

    appointment: Appointment
    payment: Payment | None
    url: str


@traced("booking.pay", _described, BOOKINGS)
def appointment_checkout(
    *,
    appointment: Appointment,
    customer: User,
    payment_key: str,
    success_url: str,
    cancel_url: str,
    now: datetime | None = None,
) -> Checkout:
    """Start paying for a held appointment on the gateway's hosted page. The payment row is
    written under the appointment lock, only while the hold is live (paying and expiring
    exclude each other); pressing Pay again returns to the same page. The page is created
    after the lock is released (network I/O). Nothing is confirmed here: the gateway's
    webhook (or the queued check) records the outcome, and `appointment_follow_payment`
    moves the appointment."""
    now = now or timezone.now()
    if appointment.customer_id != customer.pk:
        raise BookingNotAllowed("This booking is not yours.")
    with transaction.atomic():
        locked = lock_appointment(appointment.pk)
        if locked.status == AppointmentStatus.CONFIRMED:
            return Checkout(locked, payment_succeeded_for(str(locked.pk)), "")
        if locked.status != AppointmentStatus.HELD or (
            locked.hold_expires_at is not None and locked.hold_expires_at <= now
        ):
            raise HoldExpired("Your hold on this time ran out before payment. Please pick the time again.")
        try:
            payment = payment_start(
                reference=str(locked.pk),
                customer=customer,
                amount_minor=locked.price_minor,
                currency=locked.currency,
                idempotency_key=payment_key,
                payee=str(locked.provider_id),
            )
        except PaymentInProgress as exc:  # a payment for it went through meanwhile
            raise PaymentInProgress("This appointment is already paid.") from exc
        grace = now + timedelta(seconds=settings.BOOKING_PAYMENT_GRACE_SECONDS)
        if locked.hold_expires_at is not None and locked.hold_expires_at < grace:
            locked.hold_expires_at = grace
            locked.save(update_fields=["hold_expires_at", "updated_at"])
        hold_until = locked.hold_expires_at or grace
    # The gateway's page lives 30 minutes to 24 hours (Stripe's bounds); when the hold lapses
    # first, the expiry closes the page (holds_expire → payment_check(expire=True)).
    expires_at = min(max(hold_until, now + timedelta(minutes=31)), now + timedelta(hours=23, minutes=59))
    payment = checkout_open(
        payment=payment,
        description=f"{locked.service.name}, {locked.provider.business_name}",
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
    )
    return Checkout(locked, payment, payment.checkout_url)


def appointment_follow_payment(payment: Payment) -> None:
    """A payment reached its final state (registered in payments.services.PAYMENT_FINAL, runs
    in the transaction that recorded it). Locks in the usual order: provider, appointment."""
    if lock_provider_of(Appointment, payment.reference) is None:
        return  # not an appointment's payment
    locked = lock_appointment(payment.reference)
    _apply_payment(locked, payment, locked.customer, timezone.now())


def _apply_payment(locked: Appointment, payment: Payment, customer: User, now: datetime) -> None:
    """Inside the appointment lock: a final payment confirms a live hold. One that completes
    after the hold lapsed books the time if it is still free, else is refunded in full and the
    customer is told."""
    if payment.status != PaymentStatus.SUCCEEDED:
        if locked.status == AppointmentStatus.HELD:
            event(locked, EventKind.PAYMENT_FAILED, actor=customer, now=now, message=payment.failure_message)
        return
    if locked.status == AppointmentStatus.HELD or (
        locked.status == AppointmentStatus.EXPIRED and _reclaim_lapsed(locked, now)
    ):
        late = locked.status == AppointmentStatus.EXPIRED
        locked.status, locked.hold_expires_at, locked.updated_at = AppointmentStatus.CONFIRMED, None, now
        # Confirmed and its two events: one statement on PostgreSQL (ADR 0028)
        writes = Writes()
        writes.update(
            Appointment.objects.filter(pk=locked.pk),
            status=locked.status,
            hold_expires_at=None,
            updated_at=locked.updated_at,
        )
        events(
            locked,
            (EventKind.PAID, {"amount_minor": payment.amount_minor, "currency": payment.currency}),
            (EventKind.CONFIRMED, {"after_hold_lapsed": True} if late else {}),
            actor=customer,
            now=now,
            writes=writes,
        )
        writes.send()
        notify.booked(locked, preferences_loaded=True)
    elif locked.status != AppointmentStatus.CONFIRMED:
        # The hold lapsed and the time went to someone else (or the booking ended another
        # way): the money goes back, all of it, and the customer hears why.
        refund_create(
            payment=payment,
            amount_minor=payment.amount_minor,
            reason="The hold ran out before the payment completed",
            idempotency_key=f"refund-lapsed-{payment.pk}",
        )
        event(locked, EventKind.REFUNDED, now=now, amount_minor=payment.amount_minor, lapsed_hold=True)
        notify.late_payment_refunded(locked)


def _reclaim_lapsed(locked: Appointment, now: datetime) -> bool:
    """Under the provider and appointment locks: claim a lapsed hold's time again if nothing
    took it meanwhile (the database's overlap rule decides last)."""
    if not availability.time_still_free(locked, now=now):
        return False
    try:
        with transaction.atomic():
            claim_for_appointment(locked)
    except IntegrityError:
        return False
    return True


def payments_settle_stale(*, now: datetime | None = None) -> int:
    """The webhook's backstop (beat, with the hold expiry): ask the gateway about payments
    still pending a while after they started, and close the pages of lapsed holds."""
    now = now or timezone.now()
    settled = 0
    for payment in payments_stale(now=now):
        lapsed = (
            Appointment.objects.filter(pk=payment.reference)
            .filter(Q(status=AppointmentStatus.EXPIRED) | Q(status=AppointmentStatus.HELD, hold_expires_at__lte=now))
            .exists()
        )
        if payment_check(payment=payment, expire=lapsed).status != PaymentStatus.PENDING:
            settled += 1
    return settled


def holds_expire(*, now: datetime | None = None) -> int:
    """Release every hold past its deadline (beat task), whatever payment rows exist: a payment
    in flight extended the deadline when it started; one that completes later is refunded."""
    now = now or timezone.now()
    due = list(
        Appointment.objects.filter(status=AppointmentStatus.HELD, hold_expires_at__lte=now).values_list("pk", flat=True)
    )
    released = 0
    for pk in due:
        with transaction.atomic():
            appointment = (
                Appointment.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, status=AppointmentStatus.HELD, hold_expires_at__lte=now)
                .first()
            )
            if appointment is None:  # paid, or being paid right now: the next round looks again
                continue
            appointment.status = AppointmentStatus.EXPIRED
            appointment.save(update_fields=["status", "updated_at"])
            release_appointment(appointment)
            event(appointment, EventKind.HOLD_EXPIRED, now=now)
            # A hosted page still open for it is closed by the queued check (network I/O).
            for payment in Payment.objects.filter(reference=str(appointment.pk), status=PaymentStatus.PENDING):
                job_enqueue(
                    kind_name=PAYMENT_CHECK_JOB,
                    payload={"payment_id": str(payment.pk), "expire": True},
                    idempotency_key=f"payment-expire:{payment.pk}",
                )
            released += 1
    return released


def local_dates_refile(provider: Provider, *, now: datetime | None = None) -> int:
    """After the provider's zone changed: file recent and upcoming appointments, their claims and pending
    reschedule targets under the provider-local date of their start in the new zone (the
    per-day limit counts by it). Registered with providers.services.TIMEZONE_CHANGED."""
    now = now or timezone.now()
    zone = ZoneInfo(provider.timezone)
    changed = 0
    # Today's earlier appointments count toward today's limit too, in whichever zone "today" is.
    recent = now - timedelta(days=2)
    claims = TimeClaim.objects.filter(provider=provider, end__gt=recent).select_related("appointment", "reschedule")
    for claim in claims:
        day = claim.start.astimezone(zone).date()
        if claim.local_date == day:
            continue
        claim.local_date = day
        claim.save(update_fields=["local_date"])
        if claim.appointment is not None:
            Appointment.objects.filter(pk=claim.appointment.pk).update(local_date=day)
        if claim.reschedule is not None:
            RescheduleRequest.objects.filter(pk=claim.reschedule.pk).update(new_local_date=day)
        changed += 1
    return changed
