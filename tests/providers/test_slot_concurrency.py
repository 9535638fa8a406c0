"""Slot generation under real concurrency: threads with their own PostgreSQL connections."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from providers import services as provider_services
from providers.models import Service, Slot
from providers.services import slots_regenerate, slots_topup
from tests.factories import ProviderFactory, ServiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(n: int, fn: Callable[[], Any]) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_database_refuses_a_duplicate_slot(frozen_now: object) -> None:
    service = ServiceFactory()
    slot = Slot.objects.filter(service=service).first()
    assert slot is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.create(
            service=service, provider=service.provider, start=slot.start, end=slot.end, slot_date=slot.slot_date
        )


def test_parallel_topups_create_each_slot_once(frozen_now: object) -> None:
    # Given a service whose slots are gone (as if never generated)
    service = ServiceFactory()
    expected = Slot.objects.filter(service=service).count()
    Slot.objects.filter(service=service).delete()
    Service.objects.filter(pk=service.pk).update(slots_generated_until=None)
    # When 8 workers top up at the same moment
    errors = run_concurrently(8, lambda: slots_topup(services=list(Service.objects.select_related("provider"))))
    # Then no error, and every slot exists exactly once
    assert errors == []
    assert Slot.objects.filter(service=service).count() == expected
    dupes = Slot.objects.values("service", "start").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()


def test_parallel_regenerations_leave_one_consistent_schedule(frozen_now: object) -> None:
    service = ServiceFactory()
    expected = Slot.objects.filter(service=service).count()
    errors = run_concurrently(6, lambda: slots_regenerate(service=service))
    assert errors == []
    slots = list(Slot.objects.filter(service=service).order_by("start"))
    assert len(slots) == expected
    for a, b in itertools.pairwise(slots):
        assert a.end <= b.start
    per_day = Slot.objects.filter(service=service).values("slot_date").annotate(n=Count("id"))
    assert max(row["n"] for row in per_day) <= service.max_appointments_per_day
    assert Service.objects.get(pk=service.pk).slots_generated_until == date(2026, 11, 25) + timedelta(days=29)


def test_topup_racing_a_regeneration_never_mixes_old_and_new_slots(frozen_now: object) -> None:
    # Given a service whose window is missing its last days, and whose duration just changed
    service = ServiceFactory(max_appointments_per_day=14)
    Slot.objects.filter(service=service, slot_date__gte=date(2026, 12, 14)).delete()
    Service.objects.filter(pk=service.pk).update(slots_generated_until=date(2026, 12, 13), duration_minutes=45)
    fresh = Service.objects.get(pk=service.pk)
    # When top-ups and regenerations run at the same moment
    jobs = [lambda: slots_topup(), lambda: slots_regenerate(service=fresh)] * 3
    barrier_jobs = iter(jobs)
    lock = threading.Lock()

    def next_job() -> None:
        with lock:
            job = next(barrier_jobs)
        job()

    errors = run_concurrently(len(jobs), next_job)
    # Then one consistent schedule: 45-minute slots only, none overlapping, limit respected
    assert errors == []
    slots = list(Slot.objects.filter(service=service).order_by("start"))
    assert {s.end - s.start for s in slots} == {timedelta(minutes=45)}
    for a, b in itertools.pairwise(slots):
        assert a.end <= b.start
    assert Service.objects.get(pk=service.pk).slots_generated_until == date(2026, 12, 24)


def test_the_database_refuses_a_slot_whose_provider_is_not_its_services(frozen_now: object) -> None:
    # Given a service and another provider
    service = ServiceFactory()
    stranger = ProviderFactory()
    slot = Slot.objects.filter(service=service).first()
    assert slot is not None
    later = timedelta(days=400)
    # When a slot names the service with the wrong provider, or a service that does not exist
    wrong_pairs = [(service.pk, stranger.pk), (uuid.uuid4(), service.provider_id)]
    for service_id, provider_id in wrong_pairs:
        # Then the one composite key (checked at commit) refuses it
        with pytest.raises(IntegrityError), transaction.atomic():
            Slot.objects.create(
                service_id=service_id,
                provider_id=provider_id,
                start=slot.start + later,
                end=slot.end + later,
                slot_date=slot.slot_date + later,
            )
    assert Slot.objects.filter(start__gte=slot.start + later).count() == 0


def _threads_running_chunks(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    names: set[str] = set()
    chunk = provider_services._topup_chunk

    def spy(service_ids: list[Any], now: Any) -> int:
        names.add(threading.current_thread().name.split("_")[0])
        return chunk(service_ids, now)

    monkeypatch.setattr(provider_services, "_topup_chunk", spy)
    monkeypatch.setattr(provider_services, "TOPUP_CHUNK", 2)
    return names


def test_the_hourly_top_up_in_threads_makes_exactly_the_slots_one_thread_makes(
    frozen_now: object, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # Given five services of three providers (three chunks of two), their slots gone
    first, second = ServiceFactory(), ServiceFactory()
    for provider in (first.provider, second.provider, ProviderFactory()):
        ServiceFactory(provider=provider, duration_minutes=45, max_appointments_per_day=9)
    made_one_at_a_time = set(Slot.objects.values_list("service_id", "provider_id", "start", "end", "slot_date"))
    Slot.objects.all().delete()
    Service.objects.update(slots_generated_until=None)
    names = _threads_running_chunks(monkeypatch)
    settings.SLOTS_TOPUP_WORKERS = 2
    # When the top-up runs as the hourly job runs it (outside any transaction)
    created = slots_topup()
    # Then the chunks ran in the two worker threads, and made the same slots, each once
    assert names == {"slots-topup"}
    assert created == len(made_one_at_a_time) == Slot.objects.count()
    assert set(Slot.objects.values_list("service_id", "provider_id", "start", "end", "slot_date")) == made_one_at_a_time
    assert Service.objects.filter(slots_generated_until=date(2026, 12, 24)).count() == 5
    # And a second run finds nothing to do
    assert slots_topup() == 0


def test_inside_a_transaction_the_top_up_stays_in_it(frozen_now: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two services whose slots are gone
    for _ in range(2):
        ServiceFactory()
    Slot.objects.all().delete()
    Service.objects.update(slots_generated_until=None)
    names = _threads_running_chunks(monkeypatch)
    # When a caller's transaction tops up, then rolls back
    with transaction.atomic():
        made = slots_topup(workers=4)
        transaction.set_rollback(True)
    # Then it ran in the caller's thread, and nothing it made survived the rollback
    assert made > 0
    assert names == {threading.current_thread().name.split("_")[0]}
    assert Slot.objects.count() == 0
