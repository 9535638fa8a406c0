"""Stored slots: generation on create, top-up, regeneration on change."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from outbox.models import Job, JobStatus
from outbox.services import outbox_drain
from providers.models import Service, Slot
from providers.services import (
    provider_hours_set,
    provider_profile_save,
    service_update,
    slots_regenerate,
    slots_topup,
)
from providers.tasks import slots_topup_task
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

# NOW is Wed 2026-11-25 08:00 UTC = 09:00 in Berlin. Window: 25 Nov .. 24 Dec = 22 weekdays;
# a slot starting exactly now is not generated, so today has one fewer.
WEEKDAYS_IN_WINDOW = 22
PER_DAY = 14  # 09-12 + 13-17 in 30-minute slots


def test_creating_a_service_stores_30_days_of_slots(frozen_now: object) -> None:
    # When a service is created
    service = ServiceFactory()
    # Then 30 provider-local days of free slots exist, weekdays only, 14 a day
    slots = Slot.objects.filter(service=service)
    assert slots.count() == WEEKDAYS_IN_WINDOW * PER_DAY - 1
    dates = sorted(set(slots.values_list("slot_date", flat=True)))
    assert dates[0] == date(2026, 11, 25)
    assert dates[-1] == date(2026, 12, 24)
    assert all(d.weekday() < 5 for d in dates)
    service.refresh_from_db()
    assert service.slots_generated_until == date(2026, 12, 24)
    # Instants are UTC; the first one is 09:30 Berlin (CET, UTC+1), 09:00 being "now"
    first = slots.order_by("start").first()
    assert first is not None
    assert first.start == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert first.end == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_topup_adds_only_missing_days_and_is_idempotent(frozen_now: time_machine.Coordinates) -> None:
    # Given a service generated today
    service = ServiceFactory()
    before = Slot.objects.filter(service=service).count()
    # When three days pass (Fri 25 Dec, Sat, Sun enter the window) and top-up runs twice
    frozen_now.shift(timedelta(days=3))
    first_run = slots_topup()
    second_run = slots_topup()
    # Then only Friday 25 Dec was added, and the second run created nothing
    assert first_run == PER_DAY
    assert second_run == 0
    assert Slot.objects.filter(service=service).count() == before + PER_DAY
    assert Slot.objects.filter(service=service, slot_date=date(2026, 12, 25)).count() == PER_DAY
    service.refresh_from_db()
    assert service.slots_generated_until == date(2026, 12, 27)


def test_topup_command_and_beat_task_share_the_service(frozen_now: time_machine.Coordinates) -> None:
    # Given a service generated today, and one day passes (Fri 25 Dec enters the window)
    service = ServiceFactory()
    frozen_now.shift(timedelta(days=1))
    # When the management command runs
    out = StringIO()
    call_command("topup_slots", stdout=out)
    # Then it adds that Friday, and the beat task right after finds nothing to do
    assert out.getvalue().strip() == f"Created {PER_DAY} slots."
    assert Slot.objects.filter(service=service, slot_date=date(2026, 12, 25)).count() == PER_DAY
    # Beat's task puts one job per hour on the queue; the queue runs it (nothing left to add)
    slots_topup_task.delay()
    slots_topup_task.delay()
    job = Job.objects.get(kind="providers.slots_topup")
    outbox_drain()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)
    assert Slot.objects.filter(service=service, slot_date=date(2026, 12, 25)).count() == PER_DAY


def test_regeneration_keeps_past_slots_and_never_offers_taken_times(frozen_now: time_machine.Coordinates) -> None:
    # Given a service with one confirmed and one held appointment on Monday 30 Nov, and time moves on a day
    from bookings import availability
    from bookings.models import Appointment
    from bookings.services import appointment_hold

    service = ServiceFactory()
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    booked = book_confirmed(UserFactory(), monday[2])  # 10:00 Berlin
    held = appointment_hold(customer=UserFactory(), slot_id=monday[5].pk, idempotency_key=str(uuid.uuid4()))
    frozen_now.shift(timedelta(days=1))  # Thu 26 Nov 08:00 UTC; all of 25 Nov is past
    past_ids = set(Slot.objects.filter(service=service, slot_date=date(2026, 11, 25)).values_list("id", flat=True))

    # When the duration changes to 60 minutes
    result = service_update(service=Service.objects.get(pk=service.pk), duration_minutes=60, max_appointments_per_day=7)

    # Then past slots are the same rows and the appointments keep their times
    assert result is not None
    assert set(Slot.objects.filter(id__in=past_ids).values_list("id", flat=True)) == past_ids
    assert {(a.pk, a.start, a.end) for a in Appointment.objects.all()} == {
        (booked.pk, booked.start, booked.end),
        (held.pk, held.start, held.end),
    }
    # Every future offer is a new 60-minute one; none that overlaps a taken time is bookable
    future = Slot.objects.filter(service=service, start__gt=datetime.now(tz=UTC))
    assert future.exists()
    assert all(s.end - s.start == timedelta(minutes=60) for s in future)
    offered = list(availability.offers(Service.objects.get(pk=service.pk)))
    for taken in (booked, held):
        assert not [s for s in offered if s.start < taken.end and taken.start < s.end]
    monday_after = [s for s in offered if s.slot_date == date(2026, 11, 30)]
    assert len(monday_after) <= service.max_appointments_per_day - 2
    assert result.deleted > 0
    assert result.created == future.count()


def test_per_day_limit_counts_booked_appointments(frozen_now: object) -> None:
    # Given a limit of 3 a day and one booked appointment on Monday
    from bookings import availability

    service = ServiceFactory(max_appointments_per_day=3)
    monday = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")
    assert monday.count() == 3
    book_confirmed(UserFactory(), monday.first())
    # When regenerated
    slots_regenerate(service=service)
    # Then Monday offers 2 more (1 booked + 2 free), never 3
    fresh = Service.objects.get(pk=service.pk)
    assert availability.offers(fresh).filter(slot_date=date(2026, 11, 30)).count() == 2
    # And with a second booking only one is left
    book_confirmed(UserFactory(), availability.offers(fresh).filter(slot_date=date(2026, 11, 30)).first())
    assert availability.offers(fresh).filter(slot_date=date(2026, 11, 30)).count() == 1


def test_changing_hours_regenerates_every_service(frozen_now: object) -> None:
    # Given two services of one provider (at most 4 a day: what the new hours fit)
    service = ServiceFactory(max_appointments_per_day=4)
    other = ServiceFactory(provider=service.provider, max_appointments_per_day=4)
    # When the provider opens only on Mondays 10:00-12:00, and closes on Monday 30 Nov
    provider_hours_set(
        provider=service.provider,
        weekly=[(0, time(10), time(12))],
        exceptions=[(date(2026, 11, 30), None, None)],
    )
    # Then both services only have Monday slots (3 Mondays left in the window), none on the 30th
    for s in (service, other):
        dates = set(Slot.objects.filter(service=s).values_list("slot_date", flat=True))
        assert dates == {date(2026, 12, 7), date(2026, 12, 14), date(2026, 12, 21)}
        assert Slot.objects.filter(service=s).count() == 3 * 4


def test_closing_a_day_keeps_every_services_other_offers_and_their_links(frozen_now: object) -> None:
    # Given two services of one provider, with their offers (and the links customers hold)
    service = ServiceFactory()
    other = ServiceFactory(provider=service.provider, duration_minutes=60, max_appointments_per_day=7)
    closed = date(2026, 12, 2)
    before = {s.pk: dict(Slot.objects.filter(service=s).values_list("id", "slot_date")) for s in (service, other)}
    # When the provider closes one day, hours otherwise the same
    weekly = [(d, time(9), time(12)) for d in range(5)] + [(d, time(13), time(17)) for d in range(5)]
    result = provider_hours_set(provider=service.provider, weekly=weekly, exceptions=[(closed, None, None)])
    # Then both services lost exactly that day's offers, and every other offer is the same row
    assert result.created == 0
    for s in (service, other):
        after = dict(Slot.objects.filter(service=s).values_list("id", "slot_date"))
        assert after == {pk: day for pk, day in before[s.pk].items() if day != closed}
    assert result.deleted == PER_DAY + 7


def test_special_hours_replace_the_weekday(frozen_now: object) -> None:
    service = ServiceFactory()
    provider_hours_set(
        provider=service.provider,
        weekly=[(d, time(9), time(17)) for d in range(5)],
        exceptions=[(date(2026, 12, 24), time(9), time(11))],
    )
    assert Slot.objects.filter(service=service, slot_date=date(2026, 12, 24)).count() == 4
    assert Slot.objects.filter(service=service, slot_date=date(2026, 12, 23)).count() == PER_DAY


def test_deactivating_removes_future_free_slots_and_topup_skips_it(frozen_now: object) -> None:
    service = ServiceFactory()
    service_update(service=service, is_active=False)
    assert Slot.objects.filter(service=service).count() == 0
    assert slots_topup() == 0
    service_update(service=Service.objects.get(pk=service.pk), is_active=True)
    assert Slot.objects.filter(service=service).count() == WEEKDAYS_IN_WINDOW * PER_DAY - 1


def test_non_schedule_change_keeps_slots(frozen_now: object) -> None:
    service = ServiceFactory()
    ids = set(Slot.objects.filter(service=service).values_list("id", flat=True))
    assert service_update(service=service, description="New words", price_minor=4000) is None
    assert set(Slot.objects.filter(service=service).values_list("id", flat=True)) == ids


def test_timezone_change_moves_future_slots(frozen_now: object) -> None:
    # Given a Berlin provider, when it moves to New York (same wall-clock hours)
    service = ServiceFactory()
    provider = service.provider
    provider_profile_save(
        user=provider.user,
        business_name=provider.business_name,
        timezone_name="America/New_York",
        phone=provider.phone,
        address=provider.address,
    )
    # Then the first Monday slot starts at 09:00 New York = 14:00 UTC
    first_monday = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start").first()
    assert first_monday is not None
    assert first_monday.start == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
