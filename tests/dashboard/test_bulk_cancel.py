"""Bulk cancel from the dashboard: pick, see what will happen, confirm."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from notifications.models import Message
from outbox.models import Job
from payments.models import Refund
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, is_offered, slot_of

pytestmark = pytest.mark.django_db


def test_picking_asks_for_confirmation_and_changes_nothing(client: Client, setup: dict[str, Any]) -> None:
    first, second, third = setup["booked"]
    Appointment.objects.filter(pk=third.pk).update(status=AppointmentStatus.CANCELLED)
    stranger = book_confirmed(UserFactory(), Slot.objects.filter(service=ServiceFactory()).first())
    jobs, messages = Job.objects.count(), Message.objects.count()
    picked = [str(first.pk), str(second.pk), str(third.pk), str(stranger.pk), "garbage"]

    # When the provider submits their selection from the day view
    response = client.post(
        "/dashboard/appointments/cancel",
        {"ids": picked, "reason": "Ill today", "back": "/dashboard?view=day&day=2026-11-30"},
    )

    # Then they see what would be cancelled and refunded, and what would not
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Cancel 2 appointments?</h1>" in body
    assert "Refunds in total: <strong>€80.00</strong>" in body
    assert "Mon 30 Nov 2026, 09:00 CET" in body
    assert "Mon 30 Nov 2026, 09:30 CET" in body
    assert "Mon 30 Nov, 10:00 CET · " in body
    assert "already cancelled" in body
    # another provider's id is "not found" exactly like garbage: nothing about it shows
    assert "2 selected ids not found among your appointments" in body
    assert stranger.customer.email not in body
    assert 'value="Ill today"' in body
    assert body.count('<input type="hidden" name="ids"') == 5
    assert 'href="/dashboard?view=day&amp;day=2026-11-30">Keep them</a>' in body
    # And nothing happened yet: no cancellation, refund, job or message
    assert Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).count() == 3
    assert not Refund.objects.exists()
    assert (Job.objects.count(), Message.objects.count()) == (jobs, messages)

    # When they confirm
    done = client.post(
        "/dashboard/appointments/cancel",
        {"ids": picked, "reason": "Ill today", "confirm": "1", "back": "/dashboard?view=day&day=2026-11-30"},
    ).content.decode()

    # Then the two are cancelled with full refunds, the slots are free, and each id has its answer
    assert done.count('<td data-label="Result">cancelled</td>') == 2
    assert done.count('<td data-label="Result">already cancelled</td>') == 1
    assert done.count('<td data-label="Result">not found</td>') == 2
    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [4000, 4000]
    assert is_offered(slot_of(first))
    assert is_offered(slot_of(second))
    assert Appointment.objects.get(pk=stranger.pk).status == AppointmentStatus.CONFIRMED
    assert 'href="/dashboard?view=day&amp;day=2026-11-30">Back to the dashboard' in done
    # Each customer is told, and the provider's message history shows what went to them
    told = Message.objects.filter(event="cancelled_by_provider").exclude(channel="in_app")
    assert sorted(told.values_list("to_address", "reference")) == [
        ("c0@example.com", str(first.pk)),
        ("c1@example.com", str(second.pk)),
    ]
    history = client.get("/dashboard/messages").content.decode().split('id="history-title"')[1].split("</section>")[0]
    assert history.count("Cancelled: ") == 2
    assert "c0@example.com" in history


def test_nothing_cancellable_offers_no_confirm_button(client: Client, setup: dict[str, Any]) -> None:
    body = client.post("/dashboard/appointments/cancel", {"ids": [str(uuid.uuid4())]}).content.decode()
    assert "<h1>Nothing to cancel</h1>" in body
    assert 'name="confirm"' not in body
    assert "1 selected id not found among your appointments" in body


@pytest.mark.parametrize(
    ("ids", "message"),
    [([], "Select at least one appointment to cancel."), (["x"] * 201, "Cancel at most 200 appointments at once.")],
)
def test_bad_selections_are_refused_with_a_message(
    client: Client, setup: dict[str, Any], ids: list[str], message: str
) -> None:
    response = client.post(
        "/dashboard/appointments/cancel", {"ids": ids, "confirm": "1", "back": "/dashboard?view=week"}, follow=True
    )
    assert response.redirect_chain[0][0] == "/dashboard?view=week"
    assert message in response.content.decode()
    assert not Appointment.objects.filter(status=AppointmentStatus.CANCELLED).exists()


def test_the_way_back_stays_on_the_dashboard(client: Client, setup: dict[str, Any]) -> None:
    response = client.post("/dashboard/appointments/cancel", {"ids": [], "back": "https://evil.example/"})
    assert response["Location"] == "/dashboard"
