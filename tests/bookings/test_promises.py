"""Regressions where two operations meet: what a customer was shown is what applies, and a
schedule can change after any history (issue: availability has one source of truth)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, TimeClaim
from bookings.services import appointment_cancel_by_customer, appointment_hold, reschedule_request
from payments.models import Payment, Refund
from providers.models import Service, Slot
from tests.factories import (
    ServiceFactory,
    UserFactory,
    book_confirmed,
    category,
    hidden_fields,
    hours_post,
    is_offered,
    pay_flow,
    service_form,
    slot_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(frozen_now: object) -> Service:
    created: Any = ServiceFactory(price_minor=4000)
    return created


@pytest.fixture
def customer(client: Client) -> Any:
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def provider_client(service: Service) -> Client:
    c = Client()
    c.force_login(service.provider.user)
    return c


def monday(service: Service, index: int) -> Slot:
    return Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[index]


def test_after_cancellations_and_lapsed_holds_the_schedule_can_still_change(
    client: Client, customer: Any, service: Service, provider_client: Client, frozen_now: time_machine.Coordinates
) -> None:
    # Given a cancelled booking, a lapsed hold, a declined and a withdrawn reschedule request
    cancelled = book_confirmed(customer, monday(service, 0))
    appointment_cancel_by_customer(appointment=cancelled, customer=customer)
    appointment_hold(customer=customer, slot_id=monday(service, 1).pk, idempotency_key=str(uuid.uuid4()))
    kept = book_confirmed(UserFactory(), monday(service, 2))
    request = reschedule_request(appointment=kept, customer=kept.customer, new_slot_id=monday(service, 5).pk)
    from bookings.services import holds_expire, reschedule_decline

    reschedule_decline(request=request, provider=service.provider)
    frozen_now.shift(timedelta(minutes=11))
    assert holds_expire() == 1

    # When the provider edits the hours, then the service's duration, on the dashboard
    hours = provider_client.post(
        "/dashboard/hours", hours_post(dict.fromkeys(range(5), "08:00-18:00")), follow=True
    ).content.decode()
    edited = provider_client.post(
        f"/dashboard/services/{service.pk}/edit",
        service_form(category=category().pk, duration_minutes="45", max_appointments_per_day="10"),
        follow=True,
    )

    # Then both answer 200 with the report of regenerated offers
    assert "Hours saved: " in hours
    assert edited.status_code == 200
    assert "future free slots replaced by" in edited.content.decode()
    assert {s.end - s.start for s in Slot.objects.filter(service=service, start__gt=kept.end)} == {
        timedelta(minutes=45)
    }
    # The confirmed appointment keeps its time and claim; nothing offered overlaps it
    assert Appointment.objects.get(pk=kept.pk).start == kept.start
    assert list(TimeClaim.objects.values_list("appointment_id", flat=True)) == [kept.pk]
    fresh = Service.objects.get(pk=service.pk)
    from bookings import availability

    assert not [s for s in availability.offers(fresh) if s.start < kept.end and kept.start < s.end]


def test_a_policy_change_between_booking_and_cancel_keeps_the_booking_time_refund(
    client: Client, customer: Any, service: Service, provider_client: Client
) -> None:
    # Given a booking under the default policy (full refund 24 h before), 30 h ahead
    booked = book_confirmed(customer, monday(service, 2))
    # When the provider makes the service non-refundable
    provider_client.post(
        f"/dashboard/services/{service.pk}/edit",
        service_form(category=category().pk, refund_full_hours="336", refund_partial_percent="0"),
    )
    assert Service.objects.get(pk=service.pk).refund_full_hours == 336
    # Then the customer's cancel page and the refund follow the policy they booked under
    with time_machine.travel(booked.start - timedelta(hours=30), tick=False):
        page = client.get(f"/appointments/{booked.pk}/cancel/").content.decode()
        assert "you get back <strong>€40.00</strong>" in page
        assert "Cancel at least 24 hours before the start: full refund." in page
        response = client.post(f"/appointments/{booked.pk}/cancel/", hidden_fields(page))
    assert response.status_code == 302
    assert list(Refund.objects.values_list("amount_minor", flat=True)) == [4000]
    # A booking made after the change gets the new policy
    later = book_confirmed(UserFactory(), monday(service, 6))
    assert (later.refund_full_hours, later.refund_partial_percent) == (336, 0)


def test_a_price_change_between_confirm_page_and_hold_asks_again(
    client: Client, customer: Any, service: Service, provider_client: Client
) -> None:
    slot = monday(service, 3)
    form = hidden_fields(client.get(f"/book/{slot.pk}/").content.decode())
    assert form["price_minor"] == "4000"
    # The provider raises the price while the customer reads the page
    provider_client.post(f"/dashboard/services/{service.pk}/edit", service_form(category=category().pk, price="55.00"))
    response = client.post(f"/book/{slot.pk}/", form)
    # Nothing is held; the page shows the new price and a button to confirm it
    assert response.status_code == 409
    body = response.content.decode()
    assert "The price is now\n    <strong>€55.00</strong> (you were shown €40.00)" in body
    assert "Hold this time at €55.00 and pay" in body
    assert not Appointment.objects.exists()
    assert is_offered(slot)
    # Confirming the new page holds it at the price shown there
    again = client.post(f"/book/{slot.pk}/", hidden_fields(body))
    assert again.status_code == 302
    assert Appointment.objects.get().price_minor == 5500
    assert not Payment.objects.exists()


def test_confirming_a_time_the_provider_just_removed_shows_the_taken_page(
    client: Client, customer: Any, service: Service, provider_client: Client
) -> None:
    slot = monday(service, 3)
    form = hidden_fields(client.get(f"/book/{slot.pk}/").content.decode())
    # The provider changes the duration: this 30-minute offer is gone
    provider_client.post(
        f"/dashboard/services/{service.pk}/edit",
        service_form(category=category().pk, duration_minutes="60", max_appointments_per_day="7"),
    )
    assert not Slot.objects.filter(pk=slot.pk).exists()
    response = client.post(f"/book/{slot.pk}/", form)
    assert response.status_code == 409
    body = response.content.decode()
    assert "That time was just taken" in body
    assert "no longer offered" in body
    assert body.count('class="slot"') == 8
    assert not Appointment.objects.exists()
    # The link it was reached by (from the service page) works too, and a hidden service says so
    assert client.get(f"/book/{slot.pk}/?service={service.slug}").status_code == 409
    other = monday(service, 0)
    provider_client.post(f"/dashboard/services/{service.pk}/toggle")
    hidden = client.get(f"/book/{other.pk}/?service={service.slug}")
    assert hidden.status_code == 409
    assert "That time was just taken" in hidden.content.decode()
    assert 'class="slot"' not in hidden.content.decode()
    assert 'href="/">Browse services' in hidden.content.decode()


def test_a_refund_that_changed_since_the_cancel_page_cancels_nothing(
    client: Client, customer: Any, service: Service
) -> None:
    booked = book_confirmed(customer, monday(service, 2))
    # The page is opened 24 h 1 min before the start (full refund) ...
    with time_machine.travel(booked.start - timedelta(hours=24, minutes=1), tick=False):
        page = client.get(f"/appointments/{booked.pk}/cancel/").content.decode()
    assert hidden_fields(page)["refund_minor"] == "4000"
    # ... and posted 2 minutes later, past the 24 h boundary (50 %)
    with time_machine.travel(booked.start - timedelta(hours=23, minutes=59), tick=False):
        response = client.post(f"/appointments/{booked.pk}/cancel/", hidden_fields(page))
        body = response.content.decode()
        assert response.status_code == 409
        assert "Nothing was cancelled" in body
        assert "you get back <strong>€20.00</strong>" in body
        assert Appointment.objects.get(pk=booked.pk).status == AppointmentStatus.CONFIRMED
        assert not Refund.objects.exists()
        # Confirming the new amount cancels with it
        assert client.post(f"/appointments/{booked.pk}/cancel/", hidden_fields(body)).status_code == 302
    assert list(Refund.objects.values_list("amount_minor", flat=True)) == [2000]


def test_withdrawing_a_request_frees_its_time(client: Client, customer: Any, service: Service) -> None:
    booked = book_confirmed(customer, monday(service, 2))
    target = monday(service, 6)
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    assert not is_offered(target)
    page = client.get(f"/appointments/{booked.pk}/").content.decode()
    assert f"/appointments/{booked.pk}/reschedule/withdraw/" in page
    response = client.post(f"/appointments/{booked.pk}/reschedule/withdraw/", follow=True)
    assert "Request withdrawn" in response.content.decode()
    assert RescheduleRequest.objects.get().status == "withdrawn"
    assert is_offered(target)
    assert is_offered(slot_of(booked)) is False
    # Again: nothing to withdraw, said plainly
    again = client.post(f"/appointments/{booked.pk}/reschedule/withdraw/", follow=True)
    assert "There is no request waiting" in again.content.decode()


def test_hiding_and_showing_say_what_happened(provider_client: Client, service: Service) -> None:
    hidden = provider_client.post(f"/dashboard/services/{service.pk}/toggle", follow=True).content.decode()
    assert f"“{service.name}” is now hidden." in hidden
    shown = provider_client.post(f"/dashboard/services/{service.pk}/toggle", follow=True).content.decode()
    assert f"“{service.name}” is now bookable." in shown


def test_pages_with_fragments_vary_on_hx_request(client: Client, service: Service, provider_client: Client) -> None:
    for c, url in ((client, "/"), (client, f"/services/{service.slug}/"), (provider_client, "/dashboard")):
        for headers in ({}, {"HX-Request": "true"}):
            response = c.get(url, headers=headers)
            assert response.status_code == 200
            assert "HX-Request" in response["Vary"], url


@pytest.mark.parametrize("card", ["４２４２４２４２４２４２４２４２", "4242²4242424242", "4242-abcd-4242-4242", "42"])
def test_card_numbers_that_are_not_ascii_digits_are_refused_by_the_hosted_page(
    client: Client, customer: Any, service: Service, card: str
) -> None:
    slot = monday(service, 3)
    client.post(f"/book/{slot.pk}/", hidden_fields(client.get(f"/book/{slot.pk}/").content.decode()))
    appointment = Appointment.objects.get()
    response = pay_flow(client, appointment, card)
    assert response.status_code == 400
    assert "That card number is not valid." in response.content.decode()
    assert not Payment.objects.exclude(status="pending").exists()
    assert Appointment.objects.get().status == AppointmentStatus.HELD
