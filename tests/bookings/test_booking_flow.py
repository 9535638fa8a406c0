"""A customer books through the browser flow: confirm -> pay -> success or failure."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client

from bookings.models import Appointment, AppointmentEvent, AppointmentStatus
from bookings.services import holds_expire
from payments.models import Payment, PaymentStatus
from providers.models import Slot
from tests.factories import (
    PASSWORD,
    ServiceFactory,
    UserFactory,
    deliver_webhooks,
    hidden_fields,
    is_offered,
    path_of,
    pay_flow,
    shown_terms,
)

pytestmark = pytest.mark.django_db

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_FLAKY = "4000 0000 0000 0119"


@pytest.fixture
def service(frozen_now: object) -> Any:
    return ServiceFactory(price_minor=4500, min_notice_minutes=60)


@pytest.fixture
def slot(service: Any) -> Slot:
    # Monday 30 Nov, 10:00 Berlin
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]


@pytest.fixture
def customer(client: Client) -> Any:
    user = UserFactory(email="casey@example.com")
    client.force_login(user)
    return user


def confirm(client: Client, slot: Slot, key: str | None = None) -> Any:
    fields = hidden_fields(client.get(f"/book/{slot.pk}/").content.decode())
    if key:
        fields["idempotency_key"] = key
    return client.post(f"/book/{slot.pk}/", fields)


def pay(client: Client, appointment: Appointment, card: str) -> Any:
    return pay_flow(client, appointment, card)


def test_happy_path_confirm_pay_success_page_and_ics(client: Client, customer: Any, slot: Slot) -> None:
    # Given the confirm page shows the time with its zone and the price
    page = client.get(f"/book/{slot.pk}/").content.decode()
    assert "Monday 30 November 2026, 10:00–10:30 CET" in page
    assert "€45.00" in page
    # When the customer confirms
    response = confirm(client, slot)
    appointment = Appointment.objects.get()
    # Then the slot is held and they are asked to pay
    assert response.status_code == 302
    assert response.url == f"/appointments/{appointment.pk}/pay/"
    assert appointment.status == AppointmentStatus.HELD
    assert not is_offered(slot.pk)
    # When they pay with a good card
    response = pay(client, appointment, CARD_OK)
    # Then the appointment is confirmed, the slot booked, one payment recorded
    assert response.status_code == 302
    assert response.url == f"/appointments/{appointment.pk}/?booked=1"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert not is_offered(slot.pk)
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_minor, payment.currency) == (PaymentStatus.SUCCEEDED, 4500, "EUR")
    assert payment.gateway_ref.startswith("pi_sandbox_")
    # The success page has the details, the .ics link and next steps
    success = client.get(response.url).content.decode()
    for text in (
        "You're booked!",
        "Monday 30 November 2026, 10:00–10:30 CET",
        "€45.00",
        slot.service.provider.address,
        f"/appointments/{appointment.pk}/calendar.ics",
        "full refund",
        "Timeline",
        "Paid",
        "Confirmed",
    ):
        assert text in success, text
    # The calendar file has a stable UID and the UTC times
    ics = client.get(f"/appointments/{appointment.pk}/calendar.ics")
    assert ics["Content-Type"].startswith("text/calendar")
    body = ics.content.decode()
    assert f"UID:{appointment.pk}@appointly" in body
    assert "DTSTART;TZID=UTC:20261130T090000" in body or "DTSTART:20261130T090000Z" in body
    assert [e.kind for e in AppointmentEvent.objects.filter(appointment=appointment)] == [
        "created",
        "held",
        "paid",
        "confirmed",
    ]


def test_declined_card_stays_on_the_hosted_page_and_another_card_works(
    client: Client, customer: Any, slot: Slot
) -> None:
    confirm(client, slot)
    appointment = Appointment.objects.get()
    # When the card is declined on the hosted page
    response = pay(client, appointment, CARD_DECLINED)
    # Then that page says so and stays open; nothing is charged; the slot stays held
    assert response.status_code == 400
    assert "Your card was declined." in response.content.decode()
    assert not Payment.objects.filter(status=PaymentStatus.SUCCEEDED).exists()
    assert Appointment.objects.get().status == AppointmentStatus.HELD
    # When they press Pay again on our page, they are back on the same hosted page
    session = Payment.objects.get().checkout_session_id
    again = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    assert again.url.endswith(f"/sandbox/checkout/{session}")
    # And another card there confirms the booking: one payment
    back = client.post(path_of(again.url), {"card_number": CARD_OK})
    deliver_webhooks(client)
    assert client.get(path_of(back.url)).url == f"/appointments/{appointment.pk}/?booked=1"
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED


def test_a_network_error_on_the_hosted_page_can_be_tried_again(client: Client, customer: Any, slot: Slot) -> None:
    confirm(client, slot)
    first = pay(client, Appointment.objects.get(), CARD_FLAKY)
    assert first.status_code == 400
    assert "could not reach your bank" in first.content.decode()
    session = Payment.objects.get().checkout_session_id
    back = client.post(f"/sandbox/checkout/{session}", {"card_number": CARD_FLAKY})
    deliver_webhooks(client)
    assert client.get(path_of(back.url)).status_code == 302
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    assert Payment.objects.count() == 1


def test_double_submits_make_one_appointment_and_one_payment_page(client: Client, customer: Any, slot: Slot) -> None:
    # The same confirm form posted twice (double click) and Pay pressed twice
    key = str(uuid.uuid4())
    first = client.post(f"/book/{slot.pk}/", {"idempotency_key": key, **shown_terms(slot)})
    second = client.post(f"/book/{slot.pk}/", {"idempotency_key": key, **shown_terms(slot)})
    assert first.url == second.url
    appointment = Appointment.objects.get()
    pay_key = str(uuid.uuid4())
    once = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": pay_key})
    twice = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": pay_key})
    assert once.url == twice.url
    assert Appointment.objects.count() == 1
    assert Payment.objects.count() == 1
    # Paid, then Pay pressed again with a fresh key: the booking page, nothing new
    client.post(path_of(once.url), {"card_number": CARD_OK})
    deliver_webhooks(client)
    pay_again = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": str(uuid.uuid4())})
    assert pay_again.url == f"/appointments/{appointment.pk}/?booked=1"
    assert Payment.objects.count() == 1


def test_reload_and_coming_back_resume_the_same_hold(client: Client, customer: Any, slot: Slot) -> None:
    confirm(client, slot)
    appointment = Appointment.objects.get()
    assert client.get(f"/appointments/{appointment.pk}/pay/").status_code == 200
    # Going back to the slot's booking page lands on the same payment step
    response = client.get(f"/book/{slot.pk}/")
    assert response.status_code == 302
    assert response.url == f"/appointments/{appointment.pk}/pay/"
    assert Appointment.objects.count() == 1


def test_anonymous_visitor_logs_in_and_returns_to_the_same_slot(client: Client, slot: Slot) -> None:
    UserFactory(email="casey@example.com")
    response = client.get(f"/book/{slot.pk}/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")
    login = client.post("/accounts/login/", {"login": "casey@example.com", "password": PASSWORD})
    assert login.status_code == 302
    assert login.url == f"/book/{slot.pk}/"
    assert "Confirm your booking" in client.get(login.url).content.decode()


def test_anonymous_visitor_signs_up_verifies_and_returns_to_the_same_slot(client: Client, slot: Slot) -> None:
    client.get(f"/book/{slot.pk}/")
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a-long-and-unusual-pw", "password2": "a-long-and-unusual-pw"},
    )
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+)", mail.outbox[0].body).group(1)
    response = client.post(link)
    assert response.status_code == 302
    assert response.url == f"/book/{slot.pk}/"


def test_unpaid_hold_expires_and_the_slot_is_free_again(
    client: Client, customer: Any, slot: Slot, frozen_now: time_machine.Coordinates
) -> None:
    confirm(client, slot)
    appointment = Appointment.objects.get()
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 1
    assert Appointment.objects.get().status == AppointmentStatus.EXPIRED
    assert is_offered(slot.pk)
    # Paying now is refused with a clear page and no charge
    response = pay(client, appointment, CARD_OK)
    assert response.status_code == 410
    assert "ran out" in response.content.decode()
    assert "Your hold on this time ran out" in response.content.decode()
    assert "did not go through" not in response.content.decode()
    assert not Payment.objects.exists()
    # Someone else can book it
    other = Client()
    other.force_login(UserFactory())
    assert confirm(other, slot).status_code == 302


def test_taken_slot_gets_a_friendly_page_with_alternatives(client: Client, customer: Any, slot: Slot) -> None:
    rival = Client()
    rival.force_login(UserFactory())
    page = client.get(f"/book/{slot.pk}/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    confirm(rival, slot)  # the rival holds it first
    response = client.post(f"/book/{slot.pk}/", {"idempotency_key": key, **shown_terms(slot)})
    assert response.status_code == 409
    body = response.content.decode()
    assert "That time was just taken" in body
    assert body.count('class="slot"') == 8
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    ("which", "message"),
    [("past", "in the past"), ("notice", "needs at least 60 minutes"), ("inactive", None)],
)
def test_rule_breaking_bookings_change_nothing(
    client: Client, customer: Any, service: Any, which: str, message: str | None
) -> None:
    from django.utils import timezone

    now = timezone.now()
    if which == "past":
        slot = Slot.objects.filter(service=service).order_by("start").first()
        Slot.objects.filter(pk=slot.pk).update(start=now - timedelta(hours=1), end=now - timedelta(minutes=30))
    elif which == "notice":
        slot = Slot.objects.filter(service=service, start__gt=now).order_by("start").first()
        assert slot.start - now < timedelta(minutes=60)
    else:
        slot = Slot.objects.filter(service=service).order_by("start").last()
        service.is_active = False
        service.save(update_fields=["is_active"])
    response = client.post(f"/book/{slot.pk}/", {"idempotency_key": str(uuid.uuid4()), **shown_terms(slot)})
    if message:
        assert response.status_code == 400
        assert message in response.content.decode()
    else:
        assert response.status_code == 409
        assert "This service is not offered any more." in response.content.decode()
    assert not Appointment.objects.exists()
    assert not Payment.objects.exists()


def test_tampered_forms_are_refused(client: Client, customer: Any, slot: Slot) -> None:
    # A made-up price field is ignored; a bad key is refused; an unknown slot is a 404
    bad_key = client.post(
        f"/book/{slot.pk}/", {"idempotency_key": "not-a-uuid", "price_minor": "1", **shown_terms(slot)}
    )
    assert bad_key.status_code == 400
    gone = client.post(f"/book/{uuid.uuid4()}/", {"idempotency_key": str(uuid.uuid4())})
    assert gone.status_code == 409
    assert "no longer offered" in gone.content.decode()
    confirm(client, slot)
    assert Appointment.objects.get().price_minor == 4500
    no_key = client.post(f"/appointments/{Appointment.objects.get().pk}/pay/", {"payment_key": "1; DROP"})
    assert no_key.status_code == 400
    assert not Payment.objects.exists()
    # A price or card number posted to our pay page is never read: the gateway's page asks
    pressed = client.post(
        f"/appointments/{Appointment.objects.get().pk}/pay/",
        {"payment_key": str(uuid.uuid4()), "amount_minor": "1", "card_number": "4242424242424242"},
    )
    assert pressed.status_code == 302
    payment = Payment.objects.get()
    assert (payment.amount_minor, payment.status, payment.card_last4) == (4500, PaymentStatus.PENDING, "")


def test_providers_cannot_book(client: Client, slot: Slot) -> None:
    client.force_login(slot.service.provider.user)
    response = client.post(f"/book/{slot.pk}/", {"idempotency_key": str(uuid.uuid4()), **shown_terms(slot)})
    assert response.status_code == 403
    assert not Appointment.objects.exists()


def test_another_customers_appointment_is_a_404_everywhere(client: Client, customer: Any, slot: Slot) -> None:
    confirm(client, slot)
    appointment = Appointment.objects.get()
    stranger = Client()
    stranger.force_login(UserFactory())
    for url in ("", "pay/", "calendar.ics", "cancel/", "reschedule/"):
        assert stranger.get(f"/appointments/{appointment.pk}/{url}").status_code == 404, url
    for url in ("pay/", "cancel/", "reschedule/"):
        assert stranger.post(f"/appointments/{appointment.pk}/{url}", {}).status_code == 404, url
    assert Appointment.objects.get().status == AppointmentStatus.HELD


def test_booking_hides_overlapping_slots_of_the_providers_other_services(
    client: Client, customer: Any, service: Any, slot: Slot
) -> None:
    other = ServiceFactory(provider=service.provider, duration_minutes=60, max_appointments_per_day=7)
    overlapping = Slot.objects.get(service=other, start=slot.start)
    confirm(client, slot)
    page = client.get(f"/services/{other.slug}/?day=2026-11-30").content.decode()
    assert f"/book/{overlapping.pk}/" not in page
    response = client.post(
        f"/book/{overlapping.pk}/", {"idempotency_key": str(uuid.uuid4()), **shown_terms(overlapping)}
    )
    assert response.status_code == 409
