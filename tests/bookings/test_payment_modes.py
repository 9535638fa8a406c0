"""Payment modes per service: paid online (the time is held while the customer pays), paid at
the venue (booked at once; the provider marks it paid) and free. Refund policies apply only to
what was paid online."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, EventKind
from bookings.services import appointment_cancel_by_customer
from notifications.models import Message
from payments.models import Payment, Refund
from providers.models import PaymentMode, Service, Slot
from tests.factories import ServiceFactory, UserFactory, category, hidden_fields, service_form

pytestmark = pytest.mark.django_db


def monday_slot(service: Any, index: int = 2) -> Slot:
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[index]


def book(client: Client, slot: Slot) -> Any:
    return client.post(f"/book/{slot.pk}/", hidden_fields(client.get(f"/book/{slot.pk}/").content.decode()))


@pytest.fixture
def customer(client: Client) -> Any:
    user = UserFactory(email="casey@example.com")
    client.force_login(user)
    return user


@pytest.mark.parametrize("mode", [PaymentMode.VENUE, PaymentMode.FREE])
def test_a_venue_or_free_service_is_booked_at_once_with_nothing_to_pay(
    client: Client, customer: Any, frozen_now: Any, mode: str
) -> None:
    service = ServiceFactory(payment_mode=mode, price_minor=0 if mode == PaymentMode.FREE else 4000)
    slot = monday_slot(service)
    # The service page and the confirm page say how it is paid, and offer to book, not to pay
    listed = client.get(f"/services/{service.slug}/").content.decode()
    assert ("€40.00, paid at the venue" if mode == PaymentMode.VENUE else ">Free<") in listed
    confirm = client.get(f"/book/{slot.pk}/").content.decode()
    assert "Book this time" in confirm
    assert "Hold this time and pay" not in confirm
    assert "2. Pay" not in confirm
    # When the customer books
    response = book(client, slot)
    appointment = Appointment.objects.get()
    # Then it is confirmed at once: no pay page, no payment, both sides told
    assert response.status_code == 302
    assert response.url == f"/appointments/{appointment.pk}/?booked=1"
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.pay_at_venue is (mode == PaymentMode.VENUE)
    assert not Payment.objects.exists()
    assert set(Message.objects.filter(reference=str(appointment.pk)).values_list("event", flat=True)) >= {
        "booked_customer",
        "booked_provider",
    }
    page = client.get(response.url).content.decode()
    assert ("€40.00 · to pay at the venue" if mode == PaymentMode.VENUE else "<dd>Free</dd>") in page
    # Cancelling inside the no-refund window gives nothing back because nothing was taken online
    frozen_now.move_to(appointment.start - timedelta(hours=1))
    cancel_page = client.get(f"/appointments/{appointment.pk}/cancel/")
    assert cancel_page.status_code == 200
    appointment_cancel_by_customer(appointment=appointment, customer=customer)
    assert not Refund.objects.exists()
    assert Appointment.objects.get().events.get(kind=EventKind.CANCELLED).data["refund_minor"] == 0


def test_a_change_of_payment_mode_after_the_page_was_shown_asks_again(client: Client, customer: Any) -> None:
    service = ServiceFactory(price_minor=4000)
    slot = monday_slot(service)
    fields = hidden_fields(client.get(f"/book/{slot.pk}/").content.decode())
    Service.objects.filter(pk=service.pk).update(payment_mode=PaymentMode.VENUE)
    response = client.post(f"/book/{slot.pk}/", fields)
    assert response.status_code == 409
    assert "How you pay changed: paid at the venue." in response.content.decode()
    assert not Appointment.objects.exists()
    # A form without the payment mode (an old page) is refused as expired, nothing booked
    fields.pop("payment_mode")
    assert client.post(f"/book/{slot.pk}/", fields).status_code == 400
    assert not Appointment.objects.exists()


def test_the_provider_marks_a_venue_appointment_paid_once(client: Client, frozen_now: Any) -> None:
    service = ServiceFactory(payment_mode=PaymentMode.VENUE, price_minor=4000)
    customer = UserFactory()
    shopper = Client()
    shopper.force_login(customer)
    book(shopper, monday_slot(service))
    appointment = Appointment.objects.get()
    client.force_login(service.provider.user)
    detail = client.get(f"/dashboard/appointments/{appointment.pk}").content.decode()
    assert "To pay at the venue" in detail
    assert "Mark paid (€40.00)" in detail
    answer = client.post(f"/dashboard/appointments/{appointment.pk}/paid", headers={"HX-Request": "true"})
    assert "Marked paid at the venue." in answer.content.decode()
    assert "Paid at the venue" in answer.content.decode()
    client.post(f"/dashboard/appointments/{appointment.pk}/paid")  # again: nothing more happens
    appointment.refresh_from_db()
    assert appointment.venue_paid_at is not None
    paid = appointment.events.filter(kind=EventKind.PAID)
    assert [(e.data["via"], e.data["amount_minor"]) for e in paid] == [("venue", 4000)]
    assert "paid at the venue" in shopper.get(f"/appointments/{appointment.pk}/").content.decode()
    # An appointment paid online, or another provider's, cannot be marked so
    online = ServiceFactory(provider=service.provider, name="Online one", max_appointments_per_day=7)
    from tests.factories import book_confirmed

    paid_online = book_confirmed(customer, Slot.objects.filter(service=online, slot_date=date(2026, 12, 1)).first())
    refused = client.post(f"/dashboard/appointments/{paid_online.pk}/paid", follow=True)
    assert "This appointment is not paid at the venue." in refused.content.decode()
    stranger = Client()
    stranger.force_login(ServiceFactory().provider.user)
    assert stranger.post(f"/dashboard/appointments/{appointment.pk}/paid").status_code == 404


def test_the_service_form_offers_the_modes_and_a_free_service_has_no_price(client: Client, frozen_now: Any) -> None:
    service = ServiceFactory()
    client.force_login(service.provider.user)
    form = client.get("/dashboard/services/new").content.decode()
    assert 'name="payment_mode"' in form
    assert "Paid at the venue" in form
    assert ">Free<" in form
    # A free service: whatever the price field says, its price is 0
    client.post(
        "/dashboard/services/new",
        service_form(
            name="Free intro call",
            category=category().pk,
            payment_mode="free",
            price="12.00",
            max_appointments_per_day="4",
        ),
    )
    free = Service.objects.get(name="Free intro call")
    assert (free.payment_mode, free.price_minor) == (PaymentMode.FREE, 0)
    # Online and at the venue need a price
    refused = client.post(
        "/dashboard/services/new",
        service_form(
            name="Venue cut", category=category().pk, payment_mode="venue", price="", max_appointments_per_day="4"
        ),
    )
    assert "Enter a price like 35.00." in refused.content.decode()
    assert not Service.objects.filter(name="Venue cut").exists()


def test_the_database_refuses_a_priced_free_service_and_an_unpriced_paid_one(frozen_now: Any) -> None:
    service = ServiceFactory()
    for mode, price in ((PaymentMode.FREE, 100), (PaymentMode.VENUE, 0), (PaymentMode.ONLINE, 0)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Service.objects.filter(pk=service.pk).update(payment_mode=mode, price_minor=price)


def test_a_walk_in_for_a_free_service_is_simply_booked(client: Client, frozen_now: Any) -> None:
    import uuid

    service = ServiceFactory(payment_mode=PaymentMode.FREE, price_minor=0)
    client.force_login(service.provider.user)
    slot = monday_slot(service)
    data = {"slot": str(slot.pk), "key": str(uuid.uuid4()), "name": "Ana", "email": "ana@example.com", "phone": ""}
    client.post(f"/dashboard/appointments/new/{service.pk}", {**data, "payment": "link"})
    appointment = Appointment.objects.get()
    assert (appointment.status, appointment.pay_at_venue, appointment.price_minor) == (
        AppointmentStatus.CONFIRMED,
        False,
        0,
    )
    assert "free" in client.get("/dashboard?day=2026-11-30").content.decode()


def test_a_receipt_for_the_payment_and_its_refunds_reachable_from_the_account(
    client: Client, customer: Any, frozen_now: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from outbox.services import outbox_drain
    from tests.factories import book_confirmed

    service = ServiceFactory(price_minor=4000)
    appointment = book_confirmed(customer, monday_slot(service))
    # The account list and the appointment page link the receipt; so does the confirmation email
    assert f"/appointments/{appointment.pk}/receipt/" in client.get("/account/").content.decode()
    assert f"/appointments/{appointment.pk}/receipt/" in client.get(f"/appointments/{appointment.pk}/").content.decode()
    booked = Message.objects.get(recipient=customer, event="booked_customer", channel="email")
    assert f"Receipt: {settings.SITE_URL}/appointments/{appointment.pk}/receipt/" in booked.body
    receipt = client.get(f"/appointments/{appointment.pk}/receipt/").content.decode()
    assert "<strong>€40.00</strong> on 25 November 2026" in receipt
    assert f"paid online (reference {Payment.objects.get().gateway_ref})" in receipt
    assert "Cancel at least 24 hours before the start: full refund." in receipt
    # Cancelled two days ahead: the refund shows on the same receipt, and its email links it
    appointment_cancel_by_customer(appointment=appointment, customer=customer)
    outbox_drain()
    receipt = client.get(f"/appointments/{appointment.pk}/receipt/").content.decode()
    assert "€40.00 · refunded" in receipt
    assert "Paid in the end</dt><dd><strong>€0.00</strong>" in receipt
    refund_mail = Message.objects.get(recipient=customer, event="refund_issued", channel="email")
    assert f"/appointments/{appointment.pk}/receipt/" in refund_mail.body
    # Someone else's receipt is a 404, and so is one for an appointment paid at the venue
    other = Client()
    other.force_login(UserFactory())
    assert other.get(f"/appointments/{appointment.pk}/receipt/").status_code == 404
    venue = ServiceFactory(payment_mode=PaymentMode.VENUE, price_minor=4000)
    book(client, monday_slot(venue, 4))
    at_venue = Appointment.objects.get(service=venue)
    assert client.get(f"/appointments/{at_venue.pk}/receipt/").status_code == 404
    assert f"/appointments/{at_venue.pk}/receipt/" not in client.get("/account/").content.decode()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"price_minor": 0}, "free"),
        ({"status": "held"}, "unpaid"),
        ({"pay_at_venue": True}, "to pay at the venue"),
        ({"pay_at_venue": True, "status": "cancelled"}, ""),
        ({"pay_at_venue": True, "venue_paid_at": datetime(2026, 11, 2, 10, tzinfo=UTC)}, "paid at the venue"),
        ({}, "paid"),
        ({"status": "cancelled"}, ""),
    ],
)
def test_the_money_words_of_each_state(fields: dict[str, Any], words: str) -> None:
    # Given an appointment of €40 in this state (confirmed and paid online unless said)
    values: dict[str, Any] = {"price_minor": 4000, "status": "confirmed", "pay_at_venue": False, "venue_paid_at": None}
    appointment = Appointment(**{**values, **fields})
    # Then the provider's day and list say so in these words
    assert appointment.money_words == words


def test_a_status_reads_as_djangos_own_display_says() -> None:
    # Given every status an appointment can have, and a value that is none of them
    from django.db.models import Model

    field = Appointment._meta.get_field("status")
    for value in [*AppointmentStatus.values, "not-a-status"]:
        appointment = Appointment(status=value)
        # Then the kept table answers what Django's generated method would
        assert appointment.get_status_display() == Model._get_FIELD_display(appointment, field)  # type: ignore[attr-defined]
