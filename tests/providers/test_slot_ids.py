"""Offers' ids on PostgreSQL: version 7 UUIDs (time first, then 74 random bits; ADR 0032)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from providers.models import Service, Slot
from providers.services import service_update
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _millis(pk: uuid.UUID) -> int:
    return pk.int >> 80


def test_new_offers_have_time_ordered_ids_with_random_tails() -> None:
    # Given the database's clock around a service's first offers (the test's clock may be frozen)
    from django.db import connection

    def db_millis() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT floor(extract(epoch from clock_timestamp()) * 1000)::bigint")
            return int(cursor.fetchone()[0])

    before = db_millis()
    # When a service is created (30 days of offers) and then regenerated with a new duration
    service = ServiceFactory()
    made = list(Slot.objects.filter(service=service).values_list("pk", flat=True))
    between = db_millis()
    service_update(service=Service.objects.get(pk=service.pk), duration_minutes=45, max_appointments_per_day=9)
    remade = set(Slot.objects.filter(service=service).values_list("pk", flat=True)) - set(made)
    after = db_millis()
    # Then every id is an RFC 9562 version 7 UUID whose first 48 bits are when it was made
    assert len(made) > 100
    assert remade
    for pk in made + sorted(remade):
        assert (pk.version, pk.variant) == (7, uuid.RFC_4122)
    assert all(before <= _millis(pk) <= between for pk in made)
    assert all(between <= _millis(pk) <= after for pk in remade)
    # ... the regeneration's ids sort after the first ones (they join the index's right edge)
    assert max(made) < min(remade)
    # ... and past the time, 74 random bits: no two alike, even made in the same millisecond
    tails = [pk.int & ((1 << 76) - 1) & ~(0xF << 60) for pk in made]
    assert len(set(tails)) == len(made)
    assert datetime.fromtimestamp(_millis(made[0]) / 1000, tz=UTC).year >= 2026
