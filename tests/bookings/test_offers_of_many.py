"""The definition of bookable for a page of services at once (`offers_of`, the provider's
Services page) answers what it answers for each service alone (`offers`)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings.availability import offers, offers_of, services_free_slots
from providers.models import Service
from providers.services import provider_hours_set, service_update
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


def test_a_page_of_services_counts_what_each_service_offers(frozen_now: object) -> None:
    # Given four services of one provider, each with its own rules
    plain = ServiceFactory(name="Plain")
    provider = plain.provider
    ServiceFactory(provider=provider, name="Next day", min_notice_minutes=24 * 60)
    short = ServiceFactory(provider=provider, name="Short window", booking_window_days=7, max_appointments_per_day=2)
    hidden = ServiceFactory(provider=provider, name="Hidden")
    service_update(service=hidden, is_active=False)
    # ... a booking that takes a time of every service, one that uses half a day's limit,
    # and a closed day
    book_confirmed(UserFactory(), offers(plain).filter(slot_date=MONDAY).order_by("start")[3])
    book_confirmed(UserFactory(), offers(short).filter(slot_date=MONDAY + timedelta(days=1)).first())
    weekly = [(d, time(9), time(12)) for d in range(5)] + [(d, time(13), time(17)) for d in range(5)]
    provider_hours_set(provider=provider, weekly=weekly, exceptions=[(MONDAY + timedelta(days=2), None, None)])
    services = list(Service.objects.filter(provider=provider).select_related("provider").order_by("name"))
    alone = {s.pk: set(offers(s).values_list("pk", flat=True)) for s in services}
    assert all(alone[s.pk] for s in services if s.is_active)
    assert len({frozenset(v) for v in alone.values()}) == 4  # the rules differ
    # When all four are asked at once
    together = set(offers_of(services).values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as counted:
        services_free_slots(services)
    # Then the same offers, and each service's count is its own, in one query
    assert together == set().union(*alone.values())
    assert {s.pk: s.free_slots for s in services} == {pk: len(ids) for pk, ids in alone.items()}
    assert len(counted.captured_queries) == 1


def test_the_services_page_shows_each_services_free_times(frozen_now: object, client: Client) -> None:
    # Given a provider with a service that needs a day's notice beside a plain one
    plain = ServiceFactory(name="Plain")
    notice = ServiceFactory(provider=plain.provider, name="Next day", min_notice_minutes=24 * 60)
    client.force_login(plain.provider.user)
    # When they open their Services page
    page = client.get("/dashboard/services").content.decode()
    # Then each row shows what the definition offers for that service
    for service in (plain, notice):
        row = page[page.index(service.name) :]
        free = offers(service).count()
        assert f'<td data-label="Free slots ahead">{free}</td>' in row[: row.index("</tr>")]
    assert offers(plain).count() > offers(notice).count()


def test_a_claim_as_long_as_the_longest_service_still_blocks_what_it_overlaps(frozen_now: object) -> None:
    # Given a service's first offered time, and another service of the same provider
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from bookings.availability import is_offered, offered_days, offered_on
    from bookings.models import Appointment, AppointmentStatus, TimeClaim
    from providers.models import LONGEST_APPOINTMENT

    service = ServiceFactory(name="Short")
    other = ServiceFactory(provider=service.provider, name="Other")
    first = offers(service).order_by("start").first()
    assert first is not None
    assert is_offered(first, service, now=timezone.now())
    # When a claim as long as the longest service ends a minute into that time (it started
    # almost the longest service before it: the edge of the window the read bounds claims by)
    start, end = first.start + timedelta(minutes=1) - LONGEST_APPOINTMENT, first.start + timedelta(minutes=1)
    appointment = Appointment.objects.create(
        customer=UserFactory(),
        provider=service.provider,
        service=other,
        local_date=start.date(),
        start=start,
        end=end,
        status=AppointmentStatus.CONFIRMED,
        price_minor=0,
        currency="EUR",
        idempotency_key=str(uuid.uuid4()),
    )
    TimeClaim.objects.create(
        provider=service.provider, service=other, local_date=start.date(), start=start, end=end, appointment=appointment
    )
    # Then that time is offered nowhere: not by the definition, the hold's check, the day's
    # times or the day's count
    now = timezone.now()
    assert not offers(service).filter(pk=first.pk).exists()
    assert not is_offered(first, service, now=now)
    assert first.pk not in {s.pk for s in offered_on(service=service, day=first.slot_date, now=now)}
    assert (
        offered_days(service=service, now=now)[first.slot_date]
        == offers(service).filter(slot_date=first.slot_date).count()
    )
