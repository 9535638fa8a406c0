"""Reminders 24 h and 1 h before, found in the database; once each; none when stale."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from bookings.reminders import reminders_send
from bookings.services import appointment_cancel_by_customer
from notifications.models import Channel, Message
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db


def reminders(customer: object) -> list[str]:
    return list(
        Message.objects.filter(recipient=customer, event="reminder", channel=Channel.IN_APP)
        .order_by("created_at")
        .values_list("subject", flat=True)
    )


def test_24h_and_1h_reminders_go_once_each(frozen_now: time_machine.Coordinates) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    booked = book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    frozen_now.move_to(booked.start - timedelta(hours=25))
    assert reminders_send() == 0
    frozen_now.move_to(booked.start - timedelta(hours=23, minutes=55))
    assert reminders_send() == 1
    assert reminders_send() == 0  # same run again: nothing new
    frozen_now.move_to(booked.start - timedelta(minutes=58))
    assert reminders_send() == 1
    assert reminders(customer) == [f"Reminder: {service.name} in 24 hours", f"Reminder: {service.name} in 1 hour"]
    frozen_now.move_to(booked.start + timedelta(minutes=1))
    assert reminders_send() == 0


def test_a_late_run_sends_no_stale_24h_reminder(frozen_now: time_machine.Coordinates) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    booked = book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    frozen_now.move_to(booked.start - timedelta(minutes=30))  # beat was down all day
    assert reminders_send() == 1
    assert reminders(customer) == [f"Reminder: {service.name} in 1 hour"]


def test_cancelled_appointments_get_no_reminder(frozen_now: time_machine.Coordinates) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    booked = book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    appointment_cancel_by_customer(appointment=booked, customer=customer)
    frozen_now.move_to(booked.start - timedelta(minutes=30))
    assert reminders_send() == 0
    assert reminders(customer) == []
