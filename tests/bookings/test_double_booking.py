"""No double booking, ever: real concurrent PostgreSQL connections against the services."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from bookings.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    RescheduleRequest,
    TimeClaim,
)
from bookings.services import (
    SlotUnavailable,
    appointment_checkout,
    appointment_hold,
    holds_expire,
    reschedule_accept,
    reschedule_request,
)
from notifications.models import Message
from outbox.models import Job
from outbox.services import outbox_drain
from payments.gateways import CARD_SUCCESS, SandboxGateway, sign_payload
from payments.models import Payment, Refund, SandboxEvent
from payments.webhooks import sandbox_deliver_now, webhook_receive
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def outcome_kinds(results: list[Any]) -> Counter[str]:
    return Counter(type(r).__name__ for r in results)


def monday_slot(service: Any, index: int = 2) -> Slot:
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[index]


def test_fifty_customers_one_slot_one_appointment(frozen_now: object) -> None:
    slot = monday_slot(ServiceFactory())
    customers = [UserFactory() for _ in range(50)]
    results = race(
        [
            lambda c=c: appointment_hold(customer=c, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))
            for c in customers
        ]
    )
    assert outcome_kinds(results) == Counter({"Appointment": 1, "SlotUnavailable": 49})
    assert Appointment.objects.filter(start=slot.start, status__in=ACTIVE_STATUSES).count() == 1


def test_overlapping_slots_of_two_services_one_survives(frozen_now: object) -> None:
    # Given a 30-minute and a 60-minute service of one provider, both starting Monday 10:00
    short = ServiceFactory()
    long = ServiceFactory(provider=short.provider, duration_minutes=60, max_appointments_per_day=7)
    a = monday_slot(short)
    b = Slot.objects.get(service=long, start=a.start)
    c = Slot.objects.get(service=short, start=a.start + timedelta(minutes=30))  # overlaps b only
    customers = [UserFactory() for _ in range(12)]
    jobs = []
    for i, customer in enumerate(customers):
        target = (a, b, c)[i % 3]
        jobs.append(
            lambda cu=customer, s=target: appointment_hold(customer=cu, slot_id=s.pk, idempotency_key=str(uuid.uuid4()))
        )
    results = race(jobs)
    assert all(isinstance(r, Appointment | SlotUnavailable) for r in results), results
    active = list(Appointment.objects.filter(provider=short.provider, status__in=ACTIVE_STATUSES).order_by("start"))
    # Either the 60-minute one alone, or the two 30-minute ones; never an overlap
    assert len(active) in (1, 2)
    for x, y in itertools.pairwise(active):
        assert x.end <= y.start


def test_database_refuses_overlapping_claims_even_without_the_service(frozen_now: object) -> None:
    # Given a held appointment (its claim) of a 30-minute service
    short = ServiceFactory()
    long = ServiceFactory(provider=short.provider, duration_minutes=60, max_appointments_per_day=7)
    a = monday_slot(short)
    b = Slot.objects.get(service=long, start=a.start)
    customer = UserFactory()
    held = appointment_hold(customer=customer, slot_id=a.pk, idempotency_key=str(uuid.uuid4()))
    raw = Appointment.objects.create(
        customer=customer,
        provider=short.provider,
        service=long,
        start=b.start,
        end=b.end,
        local_date=b.slot_date,
        status=AppointmentStatus.CONFIRMED,
        price_minor=1,
        currency="EUR",
        idempotency_key="raw",
    )
    # When rows are written around the services: an overlapping claim of another service,
    # the same time again, and a claim moved onto it
    for start, end in ((b.start, b.end), (a.start, a.end), (a.start + timedelta(minutes=29), b.end)):
        with pytest.raises(IntegrityError), transaction.atomic():
            TimeClaim.objects.create(
                provider=short.provider, service=long, local_date=b.slot_date, start=start, end=end, appointment=raw
            )
    # Then the database refused each (exclusion constraint on PostgreSQL, triggers on SQLite)
    later = TimeClaim.objects.create(
        provider=short.provider,
        service=long,
        local_date=b.slot_date,
        start=b.end,
        end=b.end + timedelta(hours=1),
        appointment=raw,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeClaim.objects.filter(pk=later.pk).update(start=a.start)
    assert list(TimeClaim.objects.order_by("start").values_list("appointment_id", flat=True)) == [held.pk, raw.pk]


def test_reschedule_request_racing_a_new_booking_for_the_same_slot(frozen_now: object) -> None:
    service = ServiceFactory()
    owner = UserFactory()
    booked = book_confirmed(owner, monday_slot(service, 0))
    target = monday_slot(service, 5)
    rivals = [UserFactory() for _ in range(5)]
    jobs: list[Callable[[], Any]] = [
        lambda: reschedule_request(appointment=booked, customer=owner, new_slot_id=target.pk)
    ]
    jobs += [
        lambda r=r: appointment_hold(customer=r, slot_id=target.pk, idempotency_key=str(uuid.uuid4())) for r in rivals
    ]
    results = race(jobs)
    winners = [r for r in results if isinstance(r, Appointment | RescheduleRequest)]
    assert len(winners) == 1, results
    assert (
        Appointment.objects.filter(start=target.start, status__in=ACTIVE_STATUSES).count()
        + RescheduleRequest.objects.filter(new_start=target.start).count()
        == 1
    )


def test_accept_racing_a_booking_of_an_overlapping_slot(frozen_now: object) -> None:
    # Given a pending request to move to Monday 12:00 (30 min service) ...
    short = ServiceFactory()
    long = ServiceFactory(provider=short.provider, duration_minutes=60, max_appointments_per_day=7)
    owner = UserFactory()
    booked = book_confirmed(owner, monday_slot(short, 0))
    target = Slot.objects.get(service=short, start=monday_slot(short, 0).start + timedelta(hours=2))
    request = reschedule_request(appointment=booked, customer=owner, new_slot_id=target.pk)
    overlapping = Slot.objects.get(service=long, start=target.start)
    # ... when the provider accepts while others book the 60-minute slot over the same time
    rivals = [UserFactory() for _ in range(5)]
    jobs: list[Callable[[], Any]] = [lambda: reschedule_accept(request=request, provider=short.provider)]
    jobs += [
        lambda r=r: appointment_hold(customer=r, slot_id=overlapping.pk, idempotency_key=str(uuid.uuid4()))
        for r in rivals
    ]
    results = race(jobs)
    # Then the request's held slot wins or the booking does, never both
    active = list(
        Appointment.objects.filter(
            provider=short.provider, status__in=ACTIVE_STATUSES, start__lt=target.end, end__gt=target.start
        )
    )
    assert len(active) <= 1
    moved = Appointment.objects.get(pk=booked.pk)
    rival_wins = [r for r in results[1:] if isinstance(r, Appointment)]
    assert len(rival_wins) <= 1
    if moved.start == target.start:
        assert rival_wins == []
    else:
        assert isinstance(results[0], SlotUnavailable)


def test_same_confirm_and_same_payment_submitted_concurrently(frozen_now: object) -> None:
    slot = monday_slot(ServiceFactory())
    customer = UserFactory()
    key = str(uuid.uuid4())
    results = race([lambda: appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=key)] * 10)
    # Every submit answers the one booking (none is told "just taken" by its own twin)
    assert all(isinstance(r, Appointment) for r in results), results
    assert len({r.pk for r in results}) == 1
    appointment = Appointment.objects.get()
    # Pay pressed 8 times at once (same form): one payment, one hosted page for all of them
    pay_key = str(uuid.uuid4())
    pressed = race([lambda: checkout(appointment, customer, payment_key=pay_key)] * 8)
    assert {r.url for r in pressed} == {Payment.objects.get().checkout_url}, pressed
    # Paid there; the gateway delivers the same event 6 times at once: one confirmation
    assert SandboxGateway().pay(Payment.objects.get().checkout_session_id, CARD_SUCCESS) == ""
    event = SandboxEvent.objects.get(type="checkout.session.completed")
    body = json.dumps(event.payload)
    signature = sign_payload(body, settings.SANDBOX_WEBHOOK_SECRET)
    answers = race([lambda: webhook_receive(payload=body.encode(), signature=signature)] * 6)
    assert Counter(answers) == Counter({"succeeded": 1, "duplicate": 5}), answers
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert AppointmentEvent.objects.filter(appointment=appointment, kind="confirmed").count() == 1
    # ... and both people are told once: in-app and by email each, one send job per email
    assert Message.objects.filter(reference=str(appointment.pk)).count() == 4
    assert Job.objects.filter(kind="notifications.send").count() == 2


def checkout(appointment: Any, customer: Any, **kw: Any) -> Any:
    return appointment_checkout(
        appointment=appointment,
        customer=customer,
        payment_key=kw.pop("payment_key", str(uuid.uuid4())),
        success_url="http://testserver/back",
        cancel_url="http://testserver/cancel",
        **kw,
    )


def test_a_reschedule_request_and_a_hold_racing_for_overlapping_times(frozen_now: object) -> None:
    # Given a confirmed 30-minute booking whose owner asks for Monday 11:30 ...
    short = ServiceFactory()
    long = ServiceFactory(provider=short.provider, duration_minutes=60, max_appointments_per_day=7)
    owner = UserFactory()
    booked = book_confirmed(owner, monday_slot(short, 0))
    target = Slot.objects.get(service=short, start=monday_slot(short, 0).start + timedelta(hours=2, minutes=30))
    overlapping = Slot.objects.get(service=long, start=target.start - timedelta(minutes=30))
    rivals = [UserFactory() for _ in range(5)]
    # ... while five customers hold the 60-minute time 11:00-12:00 over it
    jobs: list[Callable[[], Any]] = [
        lambda: reschedule_request(appointment=booked, customer=owner, new_slot_id=target.pk)
    ]
    jobs += [
        lambda r=r: appointment_hold(customer=r, slot_id=overlapping.pk, idempotency_key=str(uuid.uuid4()))
        for r in rivals
    ]
    results = race(jobs)
    # Then exactly one wins; every loser is told "just taken", nobody gets an error
    winners = [r for r in results if isinstance(r, Appointment | RescheduleRequest)]
    assert len(winners) == 1, results
    assert outcome_kinds(results) - Counter({type(winners[0]).__name__: 1}) == Counter({"SlotUnavailable": 5})
    spans = sorted(TimeClaim.objects.filter(provider=short.provider).values_list("start", "end"))
    assert len(spans) == 2
    for a, b in itertools.pairwise(spans):
        assert a[1] <= b[0]


def test_the_per_day_limit_holds_under_concurrent_bookings(frozen_now: object) -> None:
    # Given a limit of 3 a day, and 10 offers that Monday (slots are only offers: extra ones
    # can exist, e.g. from an admin or a race with a regeneration)
    service = ServiceFactory(max_appointments_per_day=3)
    taken = set(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).values_list("start", flat=True))
    grid = ServiceFactory(provider=service.provider)  # the same 30-minute grid, 14 a day
    extra = [
        Slot(service=service, provider=service.provider, start=g.start, end=g.end, slot_date=g.slot_date)
        for g in Slot.objects.filter(service=grid, slot_date=date(2026, 11, 30)).order_by("start")
        if g.start not in taken
    ][:7]
    Slot.objects.bulk_create(extra)
    grid.delete()
    slots = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)))
    assert len(slots) == 10
    customers = [UserFactory() for _ in range(10)]
    # When 10 customers each take a different time at once
    results = race(
        [
            lambda c=c, s=s: appointment_hold(customer=c, slot_id=s.pk, idempotency_key=str(uuid.uuid4()))
            for c, s in zip(customers, slots, strict=True)
        ]
    )
    # Then exactly 3 hold one; the others are told the day is fully booked
    assert Appointment.objects.filter(service=service, local_date=date(2026, 11, 30)).count() == 3
    assert outcome_kinds(results) == Counter({"Appointment": 3, "SlotUnavailable": 7}), results
    assert all("is fully booked that day" in str(r) for r in results if isinstance(r, SlotUnavailable)), results


def test_a_payment_arriving_at_the_deadline_while_the_expiry_job_runs_never_keeps_money(
    frozen_now: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of a completed payment's webhook racing the expiry job at the hold's deadline, on
    real connections, with a rival customer taking the time the moment it is released. Either
    the booking stands (paid, no refund; after the lapse too, when the time was still free),
    or the rival has the time and the payment is refunded in full; never two bookings."""
    from django.utils import timezone

    # The workers sleep: queued jobs run when the round drains them. Woken at each commit, the
    # expiry's check of the (already paid) page could confirm the booking before the rival of
    # a "rival first" round asks, depending on the waking's rate limit (50 ms): a flaky test.
    monkeypatch.setattr("outbox.services._wake_workers", lambda: None)

    service = ServiceFactory()
    slots = list(Slot.objects.filter(service=service).order_by("start")[:16])
    outcomes: Counter[str] = Counter()
    for n, slot in enumerate(slots):
        customer, rival = UserFactory(), UserFactory()
        held = appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))
        started = checkout(held, customer)
        assert SandboxGateway().pay(started.payment.checkout_session_id, CARD_SUCCESS) == ""
        Appointment.objects.filter(pk=held.pk).update(hold_expires_at=timezone.now())
        late = timezone.now() + timedelta(minutes=10)

        def expire_then_rival(t: Any = late, s: Any = slot, r: Any = rival) -> Any:
            holds_expire(now=t)
            try:
                return appointment_hold(customer=r, slot_id=s.pk, idempotency_key=str(uuid.uuid4()))
            except SlotUnavailable as exc:
                return exc

        if n % 4 == 1:  # the rival is first for sure: the late payment must go back
            results = [expire_then_rival(), sandbox_deliver_now()]
        elif n % 4 == 3:  # the webhook is first for sure: booked before the expiry looks
            results = [sandbox_deliver_now(), expire_then_rival()]
        else:  # a real race: whichever wins, the invariants below hold
            results = race([lambda: sandbox_deliver_now(), expire_then_rival])
        assert not any(isinstance(r, Exception) and not isinstance(r, SlotUnavailable) for r in results), results
        outbox_drain()  # the expiry's check of the page (already paid: nothing to close)
        appointment = Appointment.objects.get(pk=held.pk)
        paid = Payment.objects.get(reference=str(held.pk), status="succeeded")
        refunded = sum(r.amount_minor for r in Refund.objects.filter(payment=paid))
        rivals = Appointment.objects.filter(customer=rival, status__in=ACTIVE_STATUSES).count()
        if appointment.status == AppointmentStatus.CONFIRMED:
            assert (refunded, rivals) == (0, 0)
            late_confirm = appointment.events.filter(kind="confirmed", data__after_hold_lapsed=True).exists()
            outcomes["booked after the lapse" if late_confirm else "booked"] += 1
        else:
            assert appointment.status == AppointmentStatus.EXPIRED
            assert (refunded, rivals) == (paid.amount_minor, 1)
            outcomes["refunded"] += 1
        assert TimeClaim.objects.filter(provider=service.provider, start=slot.start).count() == 1
    # Both ends were reached (the ordered rounds make sure of it; the raced ones land either way)
    assert outcomes["booked"] + outcomes["booked after the lapse"] >= 4, outcomes
    assert outcomes["refunded"] >= 4, outcomes


def test_paying_on_the_hosted_page_while_the_lapsed_hold_closes_it(frozen_now: object) -> None:
    """The customer submits the card at the moment the expiry closes the gateway's page: the
    page is either paid (and the booking follows) or closed (nothing charged), never both."""
    from django.utils import timezone

    from payments.services import payment_check

    service = ServiceFactory()
    outcomes: Counter[str] = Counter()
    for slot in list(Slot.objects.filter(service=service).order_by("start")[:12]):
        customer = UserFactory()
        held = appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))
        payment = checkout(held, customer).payment
        results = race(
            [
                lambda p=payment: SandboxGateway().pay(p.checkout_session_id, CARD_SUCCESS),
                lambda p=payment: payment_check(payment=p, expire=True),
            ]
        )
        sandbox_deliver_now()
        payment.refresh_from_db()
        if results[0] == "":
            assert payment.status == "succeeded"
            outcomes["paid"] += 1
        else:
            assert "expired" in results[0]
            assert payment.status == "failed"
            outcomes["closed"] += 1
        Appointment.objects.filter(pk=held.pk).update(hold_expires_at=timezone.now())
    assert set(outcomes) <= {"paid", "closed"}
    assert sum(outcomes.values()) == 12
