"""Automatic no-shows: opt-in per provider (from the QR page), marked by a periodic job on the
queue N minutes after the end, never for history from before the switch, correctable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentEvent, AppointmentStatus, EventKind
from bookings.services import appointment_check_in, no_shows_mark
from bookings.tasks import no_shows_mark_task
from outbox.models import Job
from outbox.services import outbox_drain
from providers.models import Provider, Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

END = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # the 10:00-10:30 CET appointment ends


@pytest.fixture
def world(frozen_now: time_machine.Coordinates) -> dict[str, Any]:
    service = ServiceFactory()
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    customers = [UserFactory() for _ in range(2)]
    late = book_confirmed(customers[0], monday[2])  # 10:00-10:30 CET, never checks in
    came = book_confirmed(customers[1], monday[2 + 1])  # 10:30-11:00 CET, checks in
    owner = Client()
    owner.force_login(service.provider.user)
    return {"service": service, "late": late, "came": came, "owner": owner, "clock": frozen_now, "customers": customers}


def status(appointment: Appointment) -> str:
    return Appointment.objects.get(pk=appointment.pk).status


def switch_on(world: dict[str, Any]) -> None:
    response = world["owner"].post("/dashboard/qr/no-shows", {"enabled": "1"}, follow=True)
    assert "Automatic no-shows are on" in response.content.decode()


def test_off_by_default_nothing_becomes_a_no_show(world: dict[str, Any]) -> None:
    world["clock"].move_to(END + timedelta(days=2))
    assert no_shows_mark() == 0
    assert status(world["late"]) == AppointmentStatus.CONFIRMED
    assert not AppointmentEvent.objects.filter(kind=EventKind.NO_SHOW).exists()


def test_switched_on_a_missed_appointment_becomes_a_no_show_15_minutes_after_its_end(world: dict[str, Any]) -> None:
    switch_on(world)  # Wednesday 25 November, before both appointments
    world["clock"].move_to(END + timedelta(minutes=2))
    appointment_check_in(customer=world["customers"][1], provider=world["service"].provider)
    world["clock"].move_to(END + timedelta(minutes=14, seconds=59))
    assert no_shows_mark() == 0
    assert status(world["late"]) == AppointmentStatus.CONFIRMED
    world["clock"].move_to(END + timedelta(minutes=15))
    assert no_shows_mark() == 1
    assert status(world["late"]) == AppointmentStatus.NO_SHOW
    event = AppointmentEvent.objects.get(appointment=world["late"], kind=EventKind.NO_SHOW)
    assert (event.actor_id, event.data, event.at) == (None, {"via": "automatic"}, END + timedelta(minutes=15))
    # The one who checked in stays attended (and later runs change nothing)
    world["clock"].move_to(END + timedelta(hours=3))
    assert no_shows_mark() == 0
    assert status(world["came"]) == AppointmentStatus.COMPLETED
    # The dashboard's no-show card counts it and the timeline says who did it
    page = world["owner"].get("/dashboard/earnings").content.decode()
    assert '<span class="label">No-shows this month</span><strong class="figure">1</strong>' in page
    detail = world["owner"].get(f"/dashboard/appointments/{world['late'].pk}").content.decode()
    assert "No-show · automatically: no check-in by the end" in detail


def test_the_provider_corrects_an_automatic_no_show(world: dict[str, Any]) -> None:
    switch_on(world)
    world["clock"].move_to(END + timedelta(minutes=20))
    no_shows_mark()
    world["owner"].post(f"/dashboard/appointments/{world['late'].pk}/attendance", {"attended": "1"})
    corrected = Appointment.objects.get(pk=world["late"].pk)
    assert corrected.status == AppointmentStatus.COMPLETED
    assert corrected.checked_in_at == END + timedelta(minutes=20)
    kinds = list(
        AppointmentEvent.objects.filter(appointment=corrected).order_by("pk").values_list("kind", "actor_id", "data")
    )
    assert kinds[-2:] == [
        (EventKind.NO_SHOW, None, {"via": "automatic"}),
        (EventKind.CHECKED_IN, world["service"].provider.user_id, {"via": "provider"}),
    ]
    # ... and back: a correction to no-show clears the check-in time
    world["owner"].post(f"/dashboard/appointments/{world['late'].pk}/attendance", {"attended": "0"})
    back = Appointment.objects.get(pk=world["late"].pk)
    assert (back.status, back.checked_in_at) == (AppointmentStatus.NO_SHOW, None)
    # An appointment corrected to attended is never marked again by later runs
    world["owner"].post(f"/dashboard/appointments/{world['late'].pk}/attendance", {"attended": "1"})
    world["clock"].move_to(END + timedelta(hours=1))
    assert no_shows_mark() == 1  # the 10:30 one, which ended without a check-in
    assert status(world["late"]) == AppointmentStatus.COMPLETED
    assert status(world["came"]) == AppointmentStatus.NO_SHOW


def test_history_from_before_the_switch_is_never_marked(world: dict[str, Any]) -> None:
    # Given both appointments ended before the provider switched automatic no-shows on
    world["clock"].move_to(END + timedelta(hours=5))
    switch_on(world)
    world["clock"].move_to(END + timedelta(days=1))
    assert no_shows_mark() == 0
    assert status(world["late"]) == AppointmentStatus.CONFIRMED


def test_switching_off_stops_it_and_on_again_starts_from_then(world: dict[str, Any]) -> None:
    switch_on(world)
    first_since = Provider.objects.get(pk=world["service"].provider.pk).auto_no_show_since
    switch_on(world)  # again: the first moment stands
    assert Provider.objects.get(pk=world["service"].provider.pk).auto_no_show_since == first_since
    off = world["owner"].post("/dashboard/qr/no-shows", {"enabled": "0"}, follow=True)
    assert "Automatic no-shows are off" in off.content.decode()
    world["clock"].move_to(END + timedelta(hours=1))
    assert no_shows_mark() == 0
    switch_on(world)
    world["clock"].move_to(END + timedelta(hours=2))
    assert no_shows_mark() == 0  # it ended while off
    assert status(world["late"]) == AppointmentStatus.CONFIRMED


def test_the_periodic_job_runs_on_the_queue_once_per_period(world: dict[str, Any]) -> None:
    switch_on(world)
    world["clock"].move_to(END + timedelta(minutes=30))
    no_shows_mark_task.apply()
    no_shows_mark_task.apply()  # a second beat in the same 5-minute period adds nothing
    assert Job.objects.filter(kind="bookings.no_shows_mark").count() == 1
    outbox_drain()
    assert status(world["late"]) == AppointmentStatus.NO_SHOW
    assert Job.objects.get(kind="bookings.no_shows_mark").status == "done"


def test_only_the_provider_switches_it(world: dict[str, Any]) -> None:
    customer = Client()
    customer.force_login(world["customers"][0])
    assert customer.post("/dashboard/qr/no-shows", {"enabled": "1"}).status_code == 403
    assert Provider.objects.get(pk=world["service"].provider.pk).auto_no_show_since is None
