"""Bookings the provider makes: a walk-in or phone booking for an existing or new customer (paid
at the venue), and moving an appointment to another free time; both through the same offers,
locks and claims as customers' bookings, including a race on PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from bookings.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, EventKind, RescheduleStatus, TimeClaim
from bookings.services import appointment_book_for_customer, appointment_hold, reschedule_request
from notifications.models import Channel, Message
from outbox.services import outbox_drain
from payments.models import Refund
from providers.models import Slot
from tests.bookings.test_double_booking import outcome_kinds, race
from tests.factories import ServiceFactory, UserFactory, book_confirmed, is_offered, pay_flow

pytestmark = pytest.mark.django_db


def monday(service: Any, index: int) -> Slot:
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[index]


def walk_in(client: Client, service: Any, slot: Slot, **customer: str) -> Any:
    data = {"slot": str(slot.pk), "key": str(uuid.uuid4()), "name": "Ana Lima", "email": "", "phone": ""}
    data.update({"payment": "venue", **customer})
    return client.post(f"/dashboard/appointments/new/{service.pk}?day=2026-11-30", data)


def test_a_walk_in_for_a_new_customer_is_booked_to_pay_at_the_venue(client: Client, setup: dict[str, Any]) -> None:
    service = setup["service"]
    # The provider picks the service, then sees the day's free times on the month calendar
    assert f"/dashboard/appointments/new/{service.pk}" in client.get("/dashboard/appointments/new").content.decode()
    page = client.get(f"/dashboard/appointments/new/{service.pk}?day=2026-11-30").content.decode()
    slot = monday(service, 5)
    assert f'name="slot" value="{slot.pk}"' in page
    assert f'name="slot" value="{setup["booked"][0].pk}"' not in page
    assert 'class="month-picker"' in page
    # When they book it for a new customer with an email
    outbox_drain()
    mail.outbox.clear()
    response = walk_in(client, service, slot, email="Ana@Example.com", phone="+351 912 345 678")
    appointment = Appointment.objects.get(start=slot.start)
    assert response.status_code == 302
    assert response.url == f"/dashboard/appointments/{appointment.pk}"
    # Then it is confirmed at once, to pay at the venue, on a claim, and no longer offered
    assert (appointment.status, appointment.pay_at_venue) == (AppointmentStatus.CONFIRMED, True)
    assert (appointment.customer_name, appointment.customer_phone) == ("Ana Lima", "+351912345678")
    assert TimeClaim.objects.filter(appointment=appointment).count() == 1
    assert not is_offered(slot)
    customer = User.objects.get(email="ana@example.com")
    assert appointment.customer == customer
    assert not customer.has_usable_password()  # "forgot password" lets them in later
    # The customer is told; the provider, who made it, is not
    outbox_drain()
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    assert not Message.objects.filter(reference=str(appointment.pk), event="booked_provider").exists()
    events = list(appointment.events.values_list("kind", "actor_id"))
    assert events == [(EventKind.CREATED, setup["provider"].user.pk), (EventKind.CONFIRMED, setup["provider"].user.pk)]
    detail = client.get(response.url).content.decode()
    assert "To pay at the venue" in detail
    assert "Ana Lima" in detail
    assert "Ana Lima" in client.get("/dashboard?day=2026-11-30").content.decode()


def test_a_repeated_post_books_once_and_an_existing_customer_keeps_their_account(
    client: Client, setup: dict[str, Any]
) -> None:
    service, customer = setup["service"], setup["customers"][0]
    slot = monday(service, 6)
    data = {"slot": str(slot.pk), "key": str(uuid.uuid4()), "name": "C Zero", "email": customer.email, "phone": ""}
    data["payment"] = "venue"
    first = client.post(f"/dashboard/appointments/new/{service.pk}", data)
    again = client.post(f"/dashboard/appointments/new/{service.pk}", data)
    assert first.url == again.url
    assert Appointment.objects.filter(start=slot.start).get().customer == customer
    assert User.objects.filter(email=customer.email).count() == 1


def test_a_phone_only_walk_in_gets_an_account_reached_by_sms(client: Client, setup: dict[str, Any]) -> None:
    service = setup["service"]
    walk_in(client, service, monday(service, 7), phone="+351912345678")
    walk_in(client, service, monday(service, 9), phone="+351 912 345 678")
    customers = {a.customer for a in Appointment.objects.filter(pay_at_venue=True)}
    assert len(customers) == 1  # one account per phone number
    [customer] = customers
    assert customer.email.endswith("@walk-in.invalid")
    assert customer.contact_email == ""
    told = Message.objects.filter(recipient=customer).exclude(channel=Channel.IN_APP)
    assert {(m.channel, m.to_address) for m in told} == {(Channel.SMS, "+351912345678")}
    assert "walk-in.invalid" not in client.get(f"/dashboard/appointments/{told[0].reference}").content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({}, "Give the customer&#x27;s email or phone number, so they can be told."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"phone": "12345"}, "international format"),
        ({"email": "x@example.com", "slot": "garbage"}, "Pick a free time."),
        ({"phone": "+351912345678", "payment": "link"}, "A payment link needs the customer&#x27;s email"),
        ({"email": "x@example.com", "payment": "cash"}, "Select a valid choice."),
    ],
)
def test_bad_walk_in_input_is_said_and_books_nothing(
    client: Client, setup: dict[str, Any], change: dict[str, str], message: str
) -> None:
    service = setup["service"]
    data = {"slot": str(monday(service, 5).pk), "key": str(uuid.uuid4()), "name": "Ana", "email": "", "phone": ""}
    data["payment"] = "venue"
    response = client.post(f"/dashboard/appointments/new/{service.pk}", {**data, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Appointment.objects.count() == 3


def test_a_walk_in_cannot_take_a_booked_time_another_providers_time_or_a_providers_email(
    client: Client, setup: dict[str, Any]
) -> None:
    service = setup["service"]
    taken = monday(service, 0)  # booked by the fixture
    assert "just taken" in walk_in(client, service, taken, email="new@example.com").content.decode()
    stranger = ServiceFactory()
    foreign = Slot.objects.filter(service=stranger).first()
    assert "no longer offered" in walk_in(client, service, foreign, email="new@example.com").content.decode()
    provider_email = stranger.provider.user.email
    refused = walk_in(client, service, monday(service, 5), email=provider_email)
    assert refused.status_code == 400
    assert "belongs to a provider account" in refused.content.decode()
    assert Appointment.objects.count() == 3


def test_a_payment_link_holds_the_time_until_the_customer_pays_through_it(
    client: Client, setup: dict[str, Any], frozen_now: Any
) -> None:
    from bookings.services import holds_expire
    from tests.factories import PASSWORD

    service = setup["service"]
    customer = UserFactory(email="pat@example.com")
    slot, other = monday(service, 5), monday(service, 6)
    # When the provider books by phone and sends a payment link
    response = walk_in(client, service, slot, email="pat@example.com", payment="link")
    held = Appointment.objects.get(start=slot.start)
    assert response.status_code == 302
    # Then the time is held (not offered) for 24 hours, the customer has the link, nothing is confirmed
    assert (held.status, held.pay_at_venue) == (AppointmentStatus.HELD, False)
    assert held.hold_expires_at is not None
    assert held.hold_expires_at - held.created_at == timedelta(hours=24)
    assert not is_offered(slot)
    link = Message.objects.get(recipient=customer, event="payment_link", channel=Channel.EMAIL)
    assert f"/appointments/{held.pk}/pay/" in link.body
    assert "/accounts/password/reset/" in link.body
    assert "Held, and the payment link is on its way" in client.get(response.url).content.decode()
    # When the customer signs in and pays through it
    shopper = Client()
    assert shopper.login(email="pat@example.com", password=PASSWORD)
    paid = pay_flow(shopper, held)
    # Then it is confirmed like any booking, and the provider hears of it now
    assert "booked=1" in paid.url
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CONFIRMED
    assert Message.objects.filter(reference=str(held.pk), event="booked_provider").exists()
    # A link nobody pays lapses after 24 hours and gives the time back
    walk_in(client, service, other, email="pat@example.com", payment="link")
    frozen_now.shift(timedelta(hours=23))
    assert holds_expire() == 0
    frozen_now.shift(timedelta(hours=2))
    assert holds_expire() == 1
    assert Appointment.objects.get(start=other.start).status == AppointmentStatus.EXPIRED
    assert is_offered(other)


def test_cancelling_a_walk_in_refunds_nothing_because_nothing_was_taken(client: Client, setup: dict[str, Any]) -> None:
    service = setup["service"]
    walk_in(client, service, monday(service, 5), email="ana@example.com")
    appointment = Appointment.objects.get(pay_at_venue=True)
    confirm = client.post("/dashboard/appointments/cancel", {"ids": [str(appointment.pk)]}).content.decode()
    assert "Refunds in total: <strong>€0.00</strong>" in confirm or "Refunds in total: <strong>0</strong>" in confirm
    client.post("/dashboard/appointments/cancel", {"ids": [str(appointment.pk)], "confirm": "1"})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert not Refund.objects.exists()
    assert appointment.events.get(kind=EventKind.CANCELLED).data["refund_minor"] == 0


def test_the_provider_moves_an_appointment_and_the_customer_may_turn_it_down_for_everything_back(
    client: Client, setup: dict[str, Any], frozen_now: Any
) -> None:
    service, appointment = setup["service"], setup["booked"][1]
    customer = appointment.customer
    # A pending request of the customer's, which the provider's move replaces
    request = reschedule_request(appointment=appointment, customer=customer, new_slot_id=monday(service, 10).pk)
    page = client.get(f"/dashboard/appointments/{appointment.pk}/move?day=2026-11-30").content.decode()
    new = monday(service, 8)
    assert f'value="{new.pk}"' in page
    old_slot = monday(service, 1)
    response = client.post(f"/dashboard/appointments/{appointment.pk}/move", {"slot": str(new.pk)})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert (appointment.start, appointment.end) == (new.start, new.end)
    assert appointment.moved_by_provider_at is not None
    assert TimeClaim.objects.get(appointment=appointment).start == new.start
    request.refresh_from_db()
    assert request.status == RescheduleStatus.WITHDRAWN
    assert is_offered(old_slot)  # the old time is free again
    assert is_offered(monday(service, 10))  # and so is the time the request held
    moved = appointment.events.get(kind=EventKind.MOVED)
    assert moved.data["old_start"] == old_slot.start.isoformat()
    told = Message.objects.get(recipient=customer, event="moved_by_provider", channel=Channel.EMAIL)
    assert "turn it down" in told.body
    # Two hours before: the policy would give back 50 %; turning the move down gives back all of it
    frozen_now.move_to(appointment.start - timedelta(hours=2))
    client.force_login(customer)
    shown = client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert "moved this appointment to this time" in shown
    cancel_page = client.get(f"/appointments/{appointment.pk}/cancel/").content.decode()
    assert "€40.00" in cancel_page
    from bookings.services import appointment_cancel_by_customer

    appointment_cancel_by_customer(appointment=appointment, customer=customer)
    assert list(Refund.objects.values_list("amount_minor", flat=True)) == [4000]


@pytest.mark.parametrize("case", ["past", "cancelled", "other service", "taken", "garbage"])
def test_a_move_that_cannot_be_done_says_why_and_changes_nothing(
    client: Client, setup: dict[str, Any], frozen_now: Any, case: str
) -> None:
    service, appointment = setup["service"], setup["booked"][2]
    target = str(monday(service, 8).pk)
    if case == "past":
        frozen_now.move_to(appointment.start + timedelta(minutes=1))
    elif case == "cancelled":
        Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    elif case == "other service":
        other = ServiceFactory(provider=setup["provider"], name="Beard trim", max_appointments_per_day=7)
        target = str(Slot.objects.filter(service=other, slot_date=date(2026, 12, 1)).first().pk)
    elif case == "taken":
        target = str(monday(service, 0).pk)
    else:
        target = "garbage"
    response = client.post(f"/dashboard/appointments/{appointment.pk}/move", {"slot": target})
    assert response.status_code == 400
    assert re.search(r'class="errorlist nonfield" role="alert">[^<]+<', response.content.decode())
    assert Appointment.objects.get(pk=appointment.pk).start == appointment.start


def test_another_providers_appointment_cannot_be_moved_or_booked_into(client: Client, setup: dict[str, Any]) -> None:
    stranger = ServiceFactory()
    theirs = book_confirmed(UserFactory(), Slot.objects.filter(service=stranger).first())
    assert client.get(f"/dashboard/appointments/{theirs.pk}/move").status_code == 404
    assert client.post(f"/dashboard/appointments/{theirs.pk}/move", {"slot": "x"}).status_code == 404
    assert client.get(f"/dashboard/appointments/new/{stranger.pk}").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_walk_in_and_customers_racing_for_one_time_make_one_appointment(frozen_now: object) -> None:
    service = ServiceFactory()
    slot = monday(service, 3)
    customers = [UserFactory() for _ in range(6)]
    walk_ins = [UserFactory() for _ in range(3)]
    jobs = [
        lambda c=c: appointment_hold(customer=c, slot_id=slot.pk, idempotency_key=str(uuid.uuid4())) for c in customers
    ] + [
        lambda c=c: appointment_book_for_customer(
            provider=service.provider, customer=c, slot_id=slot.pk, idempotency_key=str(uuid.uuid4())
        )
        for c in walk_ins
    ]
    results = race(jobs)
    assert outcome_kinds(results)["Appointment"] == 1, results
    assert sum(outcome_kinds(results).values()) == 9
    assert Appointment.objects.filter(start=slot.start, status__in=ACTIVE_STATUSES).count() == 1
    assert TimeClaim.objects.count() == 1


def test_the_provider_cancels_a_booking_still_waiting_for_its_payment_link(
    client: Client, setup: dict[str, Any]
) -> None:
    from bookings.sandbox_pay import pay_in_sandbox
    from bookings.services import HoldExpired

    service = setup["service"]
    slot = monday(service, 5)
    walk_in(client, service, slot, email="pat@example.com", payment="link")
    held = Appointment.objects.get(start=slot.start)
    # A customer's own hold (paying on our page) is not the provider's to cancel
    own = appointment_hold(customer=UserFactory(), slot_id=monday(service, 7).pk, idempotency_key=str(uuid.uuid4()))
    assert f'value="{held.pk}"' in client.get("/dashboard?day=2026-11-30").content.decode()
    confirm = client.post("/dashboard/appointments/cancel", {"ids": [str(held.pk), str(own.pk)]}).content.decode()
    assert "Cancel 1 appointment?" in confirm
    assert "Refunds in total: <strong>€0.00</strong>" in confirm
    client.post("/dashboard/appointments/cancel", {"ids": [str(held.pk)], "confirm": "1"})
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CANCELLED
    assert is_offered(slot)
    assert not Refund.objects.exists()
    assert Message.objects.filter(recipient=held.customer, event="cancelled_by_provider").exists()
    # The link then pays nothing
    with pytest.raises(HoldExpired):
        pay_in_sandbox(held, held.customer)
    assert Appointment.objects.get(pk=own.pk).status == AppointmentStatus.HELD
