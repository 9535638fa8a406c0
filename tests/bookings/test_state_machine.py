"""Where operations meet: a hypothesis state machine over the whole booking domain.

Customers hold, pay, cancel and reschedule while the provider cancels (one or many), answers
requests, marks attendance and edits the schedule (duration, buffers, per-day limit, price,
refund policy, hours, closed dates, time zone, hide/show), the jobs expire holds and requests,
top slots up and send refunds, and the clock moves. After every step the database is checked against a
plain-Python model the test keeps itself (which appointment holds which time, what each one
paid and must get back), never against the availability code under test.

Runs on django's TestCase transaction (each example is a savepoint rolled back at its end).
Sizes: PostgreSQL (CI) 200 examples x up to 40 steps (300 cost CI over four minutes); SQLite a 30-example smoke run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis
import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from appointly.core import DomainError
from bookings import availability
from bookings.attendance import Answer
from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, RescheduleStatus, TimeClaim
from bookings.sandbox_pay import pay_in_sandbox
from bookings.selectors import account_summary, account_summary_counted
from bookings.services import (
    RefundChanged,
    Terms,
    TermsChanged,
    appointment_cancel_by_customer,
    appointment_cancel_by_provider,
    appointment_check_in,
    appointment_hold,
    appointment_mark_attendance,
    appointments_cancel_bulk,
    holds_expire,
    no_shows_mark,
    reschedule_accept,
    reschedule_decline,
    reschedule_request,
    reschedule_withdraw,
    reschedules_expire,
)
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.services import refund_execute
from providers.models import Service, Slot
from providers.policy import RefundPolicy
from providers.rules import ScheduleInvalid
from providers.services import (
    provider_auto_no_show_set,
    provider_hours_set,
    provider_profile_save,
    service_update,
    slots_topup,
)
from tests.factories import ProviderFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # Wednesday
HOLDING = {AppointmentStatus.HELD, AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}
CARD_OK, CARD_DECLINED = "4242424242424242", "4000000000000002"  # typed on the sandbox's hosted page
GRACE = timedelta(seconds=django_settings.BOOKING_PAYMENT_GRACE_SECONDS)
HOURS = [
    [(d, time(9), time(12)) for d in range(7)] + [(d, time(13), time(17)) for d in range(7)],
    [(d, time(8), time(20)) for d in range(7)],
    [(d, time(10), time(14)) for d in range(0, 7, 2)],
]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]
# Minutes from an appointment's start: the check-in window's edges (30 before the start; the
# end of a 30- or 60-minute service) and the automatic no-show delay (15 after the end).
AROUND = [-31, -30, -1, 0, 20, 29, 30, 44, 45, 46, 60, 75, 76]
ATTENDABLE = {AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}


@dataclass
class M:
    """The model's view of one appointment."""

    pk: Any
    customer: Any
    service: Any
    start: datetime
    end: datetime
    status: str
    deadline: datetime | None
    price: int
    policy: RefundPolicy
    paid: int = 0
    refund_due: int = 0


@dataclass
class R:
    pk: Any
    appointment: Any
    start: datetime
    end: datetime
    expires: datetime
    status: str = RescheduleStatus.PENDING


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class BookingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.appointments: dict[Any, M] = {}
        self.requests: dict[Any, R] = {}
        self.past: dict[Any, tuple[datetime, datetime]] = {}

    def teardown(self) -> None:
        try:
            self.each_customers_kept_totals_equal_their_ledger()
        finally:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            self.traveller.stop()

    def each_customers_kept_totals_equal_their_ledger(self) -> None:
        """PostgreSQL keeps the account page's cards in rows of their own (docs/adr/0027).
        Checked once per example, at its end, not after every step (six queries a step cost
        the run ~40 %): a change the triggers missed or counted twice stays visible."""
        if connection.vendor == "postgresql" and hasattr(self, "customers"):
            for customer in self.customers:
                kept = account_summary(customer=customer, next_appointment=None, now=self.now)
                assert kept == account_summary_counted(customer=customer, now=self.now), customer.pk

    @initialize()
    def setup(self) -> None:
        self.provider = ProviderFactory()
        provider_hours_set(provider=self.provider, weekly=HOURS[0], exceptions=[])
        self.services = [
            ServiceFactory(provider=self.provider, booking_window_days=3, max_appointments_per_day=4),
            ServiceFactory(
                provider=self.provider,
                duration_minutes=60,
                booking_window_days=3,
                max_appointments_per_day=3,
                min_notice_minutes=30,
                price_minor=9000,
                refund_full_hours=12,
                refund_partial_hours=1,
                refund_partial_percent=25,
            ),
        ]
        self.customers = [UserFactory() for _ in range(3)]
        self.closed: set[date] = set()
        self.auto_since: datetime | None = None

    # --- helpers ----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.now(tz=UTC)

    def service(self, i: int) -> Service:
        return Service.objects.select_related("provider").get(pk=self.services[i % 2].pk)

    def pick(self, i: int, statuses: set[str] | None = None) -> M | None:
        # In the order they were made (ids are random: sorting by them would make replays differ)
        pool = [m for m in self.appointments.values() if statuses is None or m.status in statuses]
        return pool[i % len(pool)] if pool else None

    def pending(self, i: int) -> R | None:
        pool = [r for r in self.requests.values() if r.status == RescheduleStatus.PENDING]
        return pool[i % len(pool)] if pool else None

    def taken(self, *, ignoring: Any = None) -> list[tuple[datetime, datetime]]:
        spans = [(m.start, m.end) for m in self.appointments.values() if m.status in HOLDING and m.pk != ignoring]
        spans += [
            (r.start, r.end)
            for r in self.requests.values()
            if r.status == RescheduleStatus.PENDING and r.appointment != ignoring
        ]
        return spans

    def slot(self, service: Service, i: int) -> Slot | None:
        slots = list(Slot.objects.filter(service=service, start__gt=self.now - timedelta(hours=2)).order_by("start"))
        return slots[i % len(slots)] if slots else None

    def close_request(self, appointment_pk: Any, status: str) -> None:
        for r in self.requests.values():
            if r.appointment == appointment_pk and r.status == RescheduleStatus.PENDING:
                r.status = status

    # --- customers ---------------------------------------------------------------------------

    @rule(c=st.integers(0, 2), s=st.integers(0, 1), i=st.integers(0, 500), stale=st.sampled_from([False, False, True]))
    def book_any_time(self, c: int, s: int, i: int, stale: bool) -> None:
        """Any stored time, bookable or not (taken, past, beyond notice, closed, over the limit)."""
        service = self.service(s)
        self.book(c, service, self.slot(service, i), stale)

    @rule(c=st.integers(0, 2), s=st.integers(0, 1), i=st.integers(0, 500), pay=st.booleans())
    def book_an_offered_time(self, c: int, s: int, i: int, pay: bool) -> None:
        """What a customer does most: pick a time the page offers, and usually pay for it."""
        service = self.service(s)
        offered = list(availability.offers(service).order_by("start"))
        if not offered:
            return
        before = set(self.appointments)
        self.book(c, service, offered[i % len(offered)], False)
        new = set(self.appointments) - before
        if not new:  # refused: the customer had as many unpaid holds as allowed (checked in book)
            return
        if pay:
            self.pay_appointment(self.appointments[new.pop()], ok=True)

    def book(self, c: int, service: Service, slot: Slot | None, stale: bool) -> None:
        if slot is None:
            return
        offered = availability.offers(service).filter(pk=slot.pk).exists()
        live_holds = sum(
            1
            for m in self.appointments.values()
            if m.customer == self.customers[c]
            and m.status == AppointmentStatus.HELD
            and (m.deadline or self.now) > self.now
        )
        limited = live_holds >= django_settings.BOOKING_MAX_ACTIVE_HOLDS
        shown = Terms.of(service)
        if stale:  # the confirm page was opened before an edit: the form carries other terms
            shown = Terms(shown.price_minor + 100, shown.currency, shown.policy)
        try:
            held = appointment_hold(
                customer=self.customers[c], slot_id=slot.pk, idempotency_key=str(uuid.uuid4()), expected=shown
            )
        except TermsChanged as exc:
            assert stale, "terms changed without a stale form"
            assert offered, "terms are compared only for a time that can be held"
            assert exc.terms == Terms.of(service)  # noqa: PT017 - a rule, not a test function
            return
        except DomainError:
            assert not offered or limited, f"offered {slot.start} but the hold was refused"
            return
        # Then it was offered, fits the model, and the appointment keeps what was shown
        assert not limited, "a customer got more unpaid holds than allowed"
        assert offered
        assert not stale
        assert not any(overlaps((slot.start, slot.end), t) for t in self.taken())
        assert slot.start >= self.now + timedelta(minutes=service.min_notice_minutes)
        assert (held.price_minor, held.currency, held.refund_policy) == (
            service.price_minor,
            service.currency,
            service.refund_policy,
        )
        self.appointments[held.pk] = M(
            held.pk,
            self.customers[c],
            service.pk,
            slot.start,
            slot.end,
            AppointmentStatus.HELD,
            self.now + timedelta(minutes=django_settings.BOOKING_HOLD_MINUTES),
            service.price_minor,
            service.refund_policy,
        )
        assert held.local_date == slot.slot_date
        assert self.booked_on(service.pk, slot.slot_date) <= service.max_appointments_per_day

    def zone(self) -> ZoneInfo:
        self.provider.refresh_from_db(fields=["timezone"])
        return ZoneInfo(self.provider.timezone)

    def booked_on(self, service_pk: Any, day: date, *, zone: ZoneInfo | None = None) -> int:
        """Appointments of the service holding time on a provider-local day, by the model."""
        zone = zone or self.zone()
        return sum(
            1
            for m in self.appointments.values()
            if m.service == service_pk and m.status in HOLDING and m.start.astimezone(zone).date() == day
        )

    @rule(i=st.integers(0, 100), ok=st.booleans())
    def pay(self, i: int, ok: bool) -> None:
        m = self.pick(i, {AppointmentStatus.HELD, AppointmentStatus.EXPIRED})
        if m is not None:
            self.pay_appointment(m, ok=ok)

    def pay_appointment(self, m: M, *, ok: bool) -> None:
        live = m.status == AppointmentStatus.HELD and m.deadline is not None and m.deadline > self.now
        try:
            # Pay pressed, the card typed on the gateway's page, its webhook delivered
            error = pay_in_sandbox(Appointment.objects.get(pk=m.pk), m.customer, card=CARD_OK if ok else CARD_DECLINED)
        except DomainError:
            assert not live, "a live hold refused payment"
            return
        assert live, "a lapsed hold took a payment"
        m.deadline = max(m.deadline or self.now, self.now + GRACE)
        assert (error == "") == ok, error
        if ok:
            m.status = AppointmentStatus.CONFIRMED
            m.paid = m.price
            m.deadline = None

    @rule(i=st.integers(0, 100), early=st.booleans())
    def customer_cancel(self, i: int, early: bool) -> None:
        m = self.pick(i, {AppointmentStatus.CONFIRMED})
        if m is None:
            return
        due = m.policy.refund_minor(price_minor=m.price, start=m.start, now=self.now)
        shown = due + 1 if early else due  # an amount shown before a tier boundary passed
        try:
            appointment_cancel_by_customer(
                appointment=Appointment.objects.get(pk=m.pk), customer=m.customer, expected_refund_minor=shown
            )
        except RefundChanged as exc:
            assert early
            assert exc.refund_minor == due  # noqa: PT017 - a rule, not a test function
            return
        except DomainError:
            assert m.start <= self.now
            return
        assert not early
        assert m.start > self.now
        m.status = AppointmentStatus.CANCELLED
        m.refund_due = min(due, m.paid)
        self.close_request(m.pk, RescheduleStatus.WITHDRAWN)

    @rule(i=st.integers(0, 100), day_offset=st.integers(0, 4))
    def request_reschedule(self, i: int, day_offset: int) -> None:
        m = self.pick(i, {AppointmentStatus.CONFIRMED})
        if m is None:
            return
        service = self.service(0 if m.service == self.services[0].pk else 1)
        slot = self.slot(service, i * 7 + day_offset)
        if slot is None:
            return
        appointment = Appointment.objects.get(pk=m.pk)
        offered = availability.offers(service, ignoring=appointment).filter(pk=slot.pk).exists()
        has_pending = any(
            r.appointment == m.pk and r.status == RescheduleStatus.PENDING for r in self.requests.values()
        )
        try:
            request = reschedule_request(appointment=appointment, customer=m.customer, new_slot_id=slot.pk)
        except DomainError:
            assert not (offered and not has_pending and m.start > self.now), "an offered time was refused"
            return
        assert offered
        assert not has_pending
        assert m.start > self.now
        assert not any(overlaps((slot.start, slot.end), t) for t in self.taken())
        self.requests[request.pk] = R(request.pk, m.pk, slot.start, slot.end, m.start)

    @rule(i=st.integers(0, 100))
    def withdraw(self, i: int) -> None:
        r = self.pending(i)
        if r is None:
            return
        m = self.appointments[r.appointment]
        reschedule_withdraw(appointment=Appointment.objects.get(pk=m.pk), customer=m.customer)
        r.status = RescheduleStatus.WITHDRAWN

    # --- the provider ------------------------------------------------------------------------

    @rule(i=st.integers(0, 100))
    def provider_cancel(self, i: int) -> None:
        m = self.pick(i, {AppointmentStatus.CONFIRMED})
        if m is None:
            return
        appointment_cancel_by_provider(appointment=Appointment.objects.get(pk=m.pk), provider=self.provider)
        m.status = AppointmentStatus.CANCELLED
        m.refund_due = m.paid
        self.close_request(m.pk, RescheduleStatus.WITHDRAWN)

    @rule(picks=st.lists(st.integers(0, 100), min_size=1, max_size=4))
    def bulk_cancel(self, picks: list[int]) -> None:
        chosen = {m.pk: m for m in (self.pick(i) for i in picks) if m is not None}
        results = appointments_cancel_bulk(provider=self.provider, ids=[str(pk) for pk in chosen] + ["nope"])
        outcomes = {r.id: r.outcome for r in results}
        assert outcomes["nope"] == "not found"
        for pk, m in chosen.items():
            if m.status == AppointmentStatus.CONFIRMED and m.start > self.now:
                assert outcomes[str(pk)] == "cancelled"
                m.status = AppointmentStatus.CANCELLED
                m.refund_due = m.paid
                self.close_request(m.pk, RescheduleStatus.WITHDRAWN)
            else:
                assert outcomes[str(pk)] != "cancelled"

    @rule(i=st.integers(0, 100), accept=st.booleans())
    def answer_request(self, i: int, accept: bool) -> None:
        r = self.pending(i)
        if r is None:
            return
        m = self.appointments[r.appointment]
        request = RescheduleRequest.objects.get(pk=r.pk)
        if not accept:
            reschedule_decline(request=request, provider=self.provider)
            r.status = RescheduleStatus.DECLINED
            return
        try:
            reschedule_accept(request=request, provider=self.provider)
        except DomainError:
            assert r.expires <= self.now
            return
        assert r.expires > self.now
        r.status = RescheduleStatus.ACCEPTED
        m.start, m.end = r.start, r.end

    @rule(i=st.integers(0, 100), attended=st.booleans())
    def attendance(self, i: int, attended: bool) -> None:
        m = self.pick(i, {AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW})
        if m is None:
            return
        try:
            appointment_mark_attendance(
                appointment=Appointment.objects.get(pk=m.pk), provider=self.provider, attended=attended
            )
        except DomainError:
            assert m.start > self.now
            return
        assert m.start <= self.now
        new = AppointmentStatus.COMPLETED if attended else AppointmentStatus.NO_SHOW
        if m.status != new:
            self.close_request(m.pk, RescheduleStatus.EXPIRED)
        m.status = new

    @precondition(lambda self: any(m.status in ATTENDABLE for m in self.appointments.values()))
    @rule(i=st.integers(0, 100), minutes=st.one_of(st.none(), st.sampled_from(AROUND)))
    def check_in(self, i: int, minutes: int | None) -> None:
        """A customer who has an appointment scans the provider's code, now or when they arrive
        around its time (bookings.attendance decides what it means for whichever of theirs is
        around then)."""
        some = self.pick(i, ATTENDABLE)
        assert some is not None
        if minutes is not None and some.start + timedelta(minutes=minutes) > self.now:
            self.shift(some.start + timedelta(minutes=minutes) - self.now)
        customer = some.customer
        opens = timedelta(minutes=django_settings.ATTENDANCE_CHECK_IN_OPENS_MINUTES)
        window_open = [
            m
            for m in self.appointments.values()
            if m.customer == customer
            and m.status in (AppointmentStatus.CONFIRMED, AppointmentStatus.NO_SHOW, AppointmentStatus.COMPLETED)
            and m.start - opens <= self.now < m.end
        ]
        result = appointment_check_in(customer=customer, provider=self.provider)
        hypothesis.event(f"check-in: {result.answer}")  # --hypothesis-show-statistics
        if result.answer is Answer.CHECKED_IN:
            m = self.appointments[result.appointment.pk]
            assert m in window_open
            assert m.status in (AppointmentStatus.CONFIRMED, AppointmentStatus.NO_SHOW)
            m.status = AppointmentStatus.COMPLETED
            self.close_request(m.pk, RescheduleStatus.WITHDRAWN)
        elif window_open:
            assert result.answer is Answer.ALREADY  # the current one was checked in before
        else:
            assert result.answer is not Answer.READY

    @rule()
    def automatic_no_shows(self) -> None:
        """The provider switches automatic no-shows on (first time), then the job runs."""
        if self.auto_since is None:
            provider_auto_no_show_set(provider=self.provider, enabled=True)
            self.auto_since = self.now
            return
        cutoff = self.now - timedelta(minutes=django_settings.ATTENDANCE_NO_SHOW_AFTER_MINUTES)
        due = [
            m
            for m in self.appointments.values()
            if m.status == AppointmentStatus.CONFIRMED and self.auto_since < m.end <= cutoff
        ]
        assert no_shows_mark() == len(due)
        hypothesis.event(f"automatic no-shows: {'some' if due else 'none'}")
        for m in due:
            m.status = AppointmentStatus.NO_SHOW

    @rule(
        s=st.integers(0, 1),
        duration=st.sampled_from([30, 45, 60]),
        buffer=st.sampled_from([0, 15]),
        per_day=st.integers(1, 4),
        price=st.sampled_from([3500, 4000, 9000]),
        policy=st.sampled_from([(24, 2, 50), (12, 1, 25), (48, 48, 0)]),
    )
    def edit_service(
        self, s: int, duration: int, buffer: int, per_day: int, price: int, policy: tuple[int, int, int]
    ) -> None:
        service = self.service(s)
        with contextlib.suppress(ScheduleInvalid):  # e.g. a limit the current hours cannot fit
            service_update(
                service=service,
                duration_minutes=duration,
                buffer_after_minutes=buffer,
                max_appointments_per_day=per_day,
                price_minor=price,
                refund_full_hours=policy[0],
                refund_partial_hours=policy[1],
                refund_partial_percent=policy[2],
            )

    @rule(h=st.integers(0, len(HOURS) - 1), closed_offset=st.one_of(st.none(), st.integers(0, 2)))
    def edit_hours(self, h: int, closed_offset: int | None) -> None:
        today = self.now.astimezone(self.zone()).date()
        previous = self.closed
        if closed_offset is not None:
            self.closed = {today + timedelta(days=closed_offset)}
        else:
            self.closed = set()
        try:
            provider_hours_set(
                provider=self.provider, weekly=HOURS[h], exceptions=[(d, None, None) for d in self.closed]
            )
        except ScheduleInvalid:  # hours too short for a service's daily limit: nothing changed
            self.closed = previous

    @rule(z=st.integers(0, len(ZONES) - 1))
    def change_zone(self, z: int) -> None:
        p = self.provider
        p.refresh_from_db()
        provider_profile_save(
            user=p.user, business_name=p.business_name, timezone_name=ZONES[z], phone=p.phone, address=p.address
        )
        self.closed = set()  # closed dates stay, but the model only checks them in the zone they were set in

    @rule(s=st.integers(0, 1))
    def hide_or_show(self, s: int) -> None:
        service = self.service(s)
        service_update(service=service, is_active=not service.is_active)

    # --- jobs and time -------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 3, 9, 11, 45, 60 * 3, 60 * 13, 60 * 25]))
    def advance(self, minutes: int) -> None:
        self.shift(timedelta(minutes=minutes))

    @precondition(lambda self: any(m.status in ATTENDABLE for m in self.appointments.values()))
    @rule(i=st.integers(0, 100), minutes=st.sampled_from(AROUND))
    def advance_to_an_appointment(self, i: int, minutes: int) -> None:
        """Around an appointment's start and end: the check-in window's edges (30 minutes before
        the start, the end) and the no-show delay (15 minutes after the end)."""
        m = self.pick(i, ATTENDABLE)
        if m is not None and m.start + timedelta(minutes=minutes) > self.now:
            self.shift(m.start + timedelta(minutes=minutes) - self.now)

    def shift(self, delta: timedelta) -> None:
        for m in self.appointments.values():
            if m.end <= self.now:
                self.past.setdefault(m.pk, (m.start, m.end))
        self.clock.shift(delta)

    @rule()
    def expire_holds(self) -> None:
        due = [
            m
            for m in self.appointments.values()
            if m.status == AppointmentStatus.HELD and m.deadline is not None and m.deadline <= self.now
        ]
        assert holds_expire() == len(due)
        for m in due:
            m.status = AppointmentStatus.EXPIRED

    @rule()
    def expire_requests(self) -> None:
        due = [r for r in self.requests.values() if r.status == RescheduleStatus.PENDING and r.expires <= self.now]
        assert reschedules_expire() == len(due)
        for r in due:
            r.status = RescheduleStatus.EXPIRED

    @rule()
    def topup(self) -> None:
        slots_topup()

    @rule(n=st.integers(1, 3))
    def refunds_go_through(self, n: int) -> None:
        # The queue's refund job, for the oldest pending refunds (amounts are unchanged by it)
        for pk in Refund.objects.filter(status=RefundStatus.PENDING).order_by("created_at").values_list("pk")[:n]:
            refund_execute(refund_id=str(pk[0]))

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        rows = {a.pk: a for a in Appointment.objects.all()}
        assert set(rows) == set(self.appointments)
        for pk, m in self.appointments.items():
            a = rows[pk]
            assert (a.status, a.start, a.end) == (m.status, m.start, m.end), (pk, a.status, m.status)
        pending = set(RescheduleRequest.objects.filter(status=RescheduleStatus.PENDING).values_list("pk", flat=True))
        assert pending == {r.pk for r in self.requests.values() if r.status == RescheduleStatus.PENDING}
        claims = sorted(TimeClaim.objects.values_list("start", "end"))
        assert claims == sorted(self.taken())

    @invariant()
    def no_two_taken_times_overlap(self) -> None:
        spans = sorted(self.taken())
        for a, b in itertools.pairwise(spans):
            assert a[1] <= b[0], (a, b)

    @invariant()
    def no_offer_overlaps_a_taken_time_or_breaks_a_rule(self) -> None:
        # Both services' offers in one query of the definition (the Services page's form of it;
        # every hold in the rules above goes through the one-service form): a third of the run's
        # time went to building and reading them one service at a time, the zone read per day.
        taken = self.taken()
        mine = Service.objects.select_related("provider").filter(pk__in=[s.pk for s in self.services])
        services = {s.pk: s for s in mine}
        zone = ZoneInfo(next(iter(services.values())).provider.timezone)
        per_day: dict[tuple[Any, date], int] = {}
        for slot in availability.offers_of(list(services.values())):
            service = services[slot.service_id]
            assert not any(overlaps((slot.start, slot.end), t) for t in taken), slot
            assert slot.start >= self.now + timedelta(minutes=service.min_notice_minutes)
            assert slot.slot_date not in self.closed
            key = (service.pk, slot.slot_date)
            if key not in per_day:
                per_day[key] = self.booked_on(service.pk, slot.slot_date, zone=zone)
            assert per_day[key] < service.max_appointments_per_day

    @invariant()
    def money_is_never_kept_for_nothing(self) -> None:
        refunds: dict[str, int] = {}
        for r in Refund.objects.select_related("payment"):
            refunds[r.payment.reference] = refunds.get(r.payment.reference, 0) + r.amount_minor
        for payment in Payment.objects.filter(status=PaymentStatus.SUCCEEDED):
            m = self.appointments[uuid.UUID(payment.reference)]
            back = refunds.get(payment.reference, 0)
            assert back <= payment.amount_minor
            if m.status not in HOLDING:
                # cancelled: exactly what the policy copied at booking gives (or all of it)
                assert back == m.refund_due, (m.pk, back, m.refund_due)
            else:
                assert back == 0
        for reference in refunds:
            assert Payment.objects.filter(reference=reference, status=PaymentStatus.SUCCEEDED).exists()

    @invariant()
    def past_appointments_keep_their_times(self) -> None:
        for pk, (start, end) in self.past.items():
            m = self.appointments[pk]
            assert (m.start, m.end) == (start, end)


def _sizes() -> tuple[int, int]:
    if connection.vendor == "postgresql":
        return int(os.environ.get("APPOINTLY_MACHINE_EXAMPLES", "200")), 40
    return int(os.environ.get("APPOINTLY_MACHINE_EXAMPLES", "30")), 25


def test_booking_operations_interleaved() -> None:
    examples, steps = _sizes()
    run_state_machine_as_test(
        BookingMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=os.environ.get("CI") == "true",
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
