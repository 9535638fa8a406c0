"""Reschedule requests: the customer asks, the slot is held, the provider accepts or declines."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, RescheduleRequest, RescheduleStatus
from bookings.services import (
    BookingNotAllowed,
    SlotUnavailable,
    reschedule_accept,
    reschedule_decline,
    reschedules_expire,
)
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, cancel_as_shown, is_offered, slot_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(client: Client, frozen_now: object) -> Appointment:
    service = ServiceFactory()
    customer = UserFactory()
    client.force_login(customer)
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    return book_confirmed(customer, slot)


def new_slot(appointment: Appointment) -> Slot:
    return Slot.objects.filter(service=appointment.service, slot_date=date(2026, 12, 1)).order_by("start")[4]


def test_request_holds_the_new_slot_and_shows_on_the_appointment(client: Client, booked: Appointment) -> None:
    target = new_slot(booked)
    page = client.get(f"/appointments/{booked.pk}/reschedule/?day=2026-12-01").content.decode()
    assert f'value="{target.pk}"' in page
    response = client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    assert response.status_code == 302
    request = RescheduleRequest.objects.get()
    assert request.status == RescheduleStatus.PENDING
    assert request.expires_at == booked.start
    assert not is_offered(target.pk)
    detail = client.get(f"/appointments/{booked.pk}/").content.decode()
    assert "waiting for the provider" in detail
    assert "Reschedule requested" in detail
    # A second request while one is pending is refused
    other = Slot.objects.filter(service=booked.service, slot_date=date(2026, 12, 2)).first()
    again = client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(other.pk)})
    assert again.status_code == 400
    assert RescheduleRequest.objects.count() == 1


def test_accept_moves_the_appointment_atomically(client: Client, booked: Appointment) -> None:
    target = new_slot(booked)
    old_slot_id = slot_of(booked).pk
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    moved = reschedule_accept(request=RescheduleRequest.objects.get(), provider=booked.provider)
    assert slot_of(moved).pk == target.pk
    assert (moved.start, moved.end, moved.local_date) == (target.start, target.end, target.slot_date)
    assert is_offered(old_slot_id)
    assert not is_offered(target.pk)
    assert RescheduleRequest.objects.get().status == RescheduleStatus.ACCEPTED
    assert "reschedule_accepted" in list(moved.events.values_list("kind", flat=True))
    with pytest.raises(BookingNotAllowed):
        reschedule_accept(request=RescheduleRequest.objects.get(), provider=booked.provider)


def test_decline_releases_the_held_slot(client: Client, booked: Appointment) -> None:
    target = new_slot(booked)
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    reschedule_decline(request=RescheduleRequest.objects.get(), provider=booked.provider)
    assert is_offered(target.pk)
    assert Appointment.objects.get(pk=booked.pk).start == booked.start
    assert RescheduleRequest.objects.get().status == RescheduleStatus.DECLINED


def test_unanswered_requests_expire_at_the_original_start(
    client: Client, booked: Appointment, frozen_now: time_machine.Coordinates
) -> None:
    target = new_slot(booked)
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    assert reschedules_expire() == 0
    frozen_now.move_to(booked.start)
    assert reschedules_expire() == 1
    assert RescheduleRequest.objects.get().status == RescheduleStatus.EXPIRED
    assert is_offered(target.pk)
    with pytest.raises(BookingNotAllowed):
        reschedule_accept(request=RescheduleRequest.objects.get(), provider=booked.provider)


def test_other_providers_cannot_answer(client: Client, booked: Appointment) -> None:
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(new_slot(booked).pk)})
    stranger = ServiceFactory().provider
    with pytest.raises(BookingNotAllowed):
        reschedule_accept(request=RescheduleRequest.objects.get(), provider=stranger)
    with pytest.raises(BookingNotAllowed):
        reschedule_decline(request=RescheduleRequest.objects.get(), provider=stranger)
    assert RescheduleRequest.objects.get().status == RescheduleStatus.PENDING


@pytest.mark.parametrize("case", ["cancelled", "other-service", "taken", "garbage"])
def test_bad_reschedules_change_nothing(client: Client, booked: Appointment, case: str) -> None:
    target = new_slot(booked)
    data = {"slot": str(target.pk)}
    if case == "cancelled":
        cancel_as_shown(client, booked)
    elif case == "other-service":
        data["slot"] = str(Slot.objects.filter(service=ServiceFactory()).first().pk)
    elif case == "taken":
        book_confirmed(UserFactory(), target)
    else:
        data["slot"] = "'; DROP TABLE x; --"
    response = client.post(f"/appointments/{booked.pk}/reschedule/", data)
    assert response.status_code == 400
    assert not RescheduleRequest.objects.exists()
    assert Appointment.objects.get(pk=booked.pk).start == booked.start


def test_cancelling_withdraws_a_pending_request(client: Client, booked: Appointment) -> None:
    target = new_slot(booked)
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    cancel_as_shown(client, booked)
    assert RescheduleRequest.objects.get().status == RescheduleStatus.WITHDRAWN
    assert is_offered(target.pk)


def test_a_new_booking_cannot_take_a_slot_held_for_a_request(client: Client, booked: Appointment) -> None:
    import uuid

    from bookings.services import appointment_hold

    target = new_slot(booked)
    client.post(f"/appointments/{booked.pk}/reschedule/", {"slot": str(target.pk)})
    with pytest.raises(SlotUnavailable):
        appointment_hold(customer=UserFactory(), slot_id=target.pk, idempotency_key=str(uuid.uuid4()))
    assert Appointment.objects.count() == 1


def test_reschedule_page_needs_the_owner(booked: Appointment) -> None:
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(f"/appointments/{booked.pk}/reschedule/").status_code == 404
    anonymous = Client()
    assert anonymous.get(f"/appointments/{booked.pk}/reschedule/").status_code == 302
    assert booked.start - timedelta(days=1) > booked.created_at
