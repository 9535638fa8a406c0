"""A deadlock or serialization failure is retried a bounded number of times, then answered as
"just taken": never a 500 (docs/adr/0011)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from bookings.models import Appointment
from bookings.services import booking
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, hidden_fields

# Retries happen only outside a caller's transaction: these tests run without the test-case one.
pytestmark = pytest.mark.django_db(transaction=True)


class Deadlock(Exception):
    sqlstate = "40P01"


def deadlocking(times: int, real: Any) -> Any:
    """lock_provider_of that the database aborts `times` times (as PostgreSQL's deadlock detector
    does to one of two waiting transactions), then locks for real."""
    calls = {"n": 0}

    def lock(owner: Any, pk: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("deadlock detected") from Deadlock()
        return real(owner, pk)

    lock.calls = calls  # type: ignore[attr-defined]
    return lock


@pytest.fixture
def page(client: Client, frozen_now: object) -> tuple[Slot, dict[str, str]]:
    service = ServiceFactory()
    client.force_login(UserFactory())
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    return slot, hidden_fields(client.get(f"/book/{slot.pk}/").content.decode())


def test_a_deadlock_is_retried_and_the_booking_goes_through(
    client: Client, page: tuple[Slot, dict[str, str]], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BOOKING_CONFLICT_RETRIES = 3
    slot, form = page
    lock = deadlocking(2, booking.lock_provider_of)
    monkeypatch.setattr(booking, "lock_provider_of", lock)
    response = client.post(f"/book/{slot.pk}/", form)
    assert response.status_code == 302
    assert lock.calls["n"] == 3  # type: ignore[attr-defined]
    assert Appointment.objects.count() == 1


def test_a_deadlock_every_time_answers_just_taken_not_500(
    client: Client, page: tuple[Slot, dict[str, str]], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BOOKING_CONFLICT_RETRIES = 3
    slot, form = page
    lock = deadlocking(99, booking.lock_provider_of)
    monkeypatch.setattr(booking, "lock_provider_of", lock)
    response = client.post(f"/book/{slot.pk}/", form)
    assert response.status_code == 409
    assert "That time was just taken" in response.content.decode()
    assert lock.calls["n"] == 3  # type: ignore[attr-defined]
    assert not Appointment.objects.exists()


def test_other_operational_errors_are_not_swallowed(
    client: Client, page: tuple[Slot, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    slot, _form = page

    def broken(owner: Any, pk: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(booking, "lock_provider_of", broken)
    with pytest.raises(OperationalError):
        booking.appointment_hold(customer=UserFactory(), slot_id=slot.pk, idempotency_key="k" * 8)
