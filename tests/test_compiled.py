"""Reads compiled once, run with each call's values (appointly/compiled.py, ADR 0029): the same
rows as the queryset they are built from, never a stale value, and shapes they cannot bind
refused on first use."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import DateTimeField
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from appointly.compiled import AnyOf, Compiled, Pick
from bookings.models import Appointment
from providers.models import Provider, Slot
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
PG = connection.vendor == "postgresql"

LATER = Compiled(
    lambda service_id, after: (
        Slot.objects.filter(service_id=service_id, start__gt=after)
        .select_related("service__provider")
        .order_by("start")
    )
)


def test_a_compiled_read_answers_as_its_queryset_for_every_value() -> None:
    # Given two services with their offers
    services = [ServiceFactory(), ServiceFactory()]
    for service in services:
        starts = list(Slot.objects.filter(service=service).order_by("start").values_list("start", flat=True))
        for after in (starts[0], starts[5], starts[-1]):
            # When the compiled read runs with these values
            with CaptureQueriesContext(connection) as queries:
                rows = LATER.list(service_id=service.pk, after=after)
            # Then it has the queryset's rows, with their related rows, in one query
            expected = list(Slot.objects.filter(service=service, start__gt=after).order_by("start"))
            assert rows == expected
            assert len(queries.captured_queries) == 1
            assert all(row.service.provider.pk == service.provider_id for row in rows)
    # ... and one SQL text served every call (on PostgreSQL, compiled once)
    if PG:
        assert len(LATER._shapes) == 1


def test_first_and_one_answer_as_first_and_get() -> None:
    service = ServiceFactory()
    slot = Slot.objects.filter(service=service).order_by("start").first()
    assert slot is not None
    by_key = Compiled(lambda pk: Slot.objects.filter(pk=pk))
    assert by_key.one(pk=slot.pk) == slot
    assert by_key.first(pk=slot.pk) == slot
    other = ServiceFactory().slots.first()
    assert other is not None
    assert by_key.one(pk=other.pk) == other
    Slot.objects.filter(pk=slot.pk).delete()
    assert by_key.first(pk=slot.pk) is None
    with pytest.raises(Slot.DoesNotExist):
        by_key.one(pk=slot.pk)
    by_service = Compiled(lambda service_id: Slot.objects.filter(service_id=service_id))
    with pytest.raises(Slot.MultipleObjectsReturned):
        by_service.one(service_id=service.pk)


def test_a_list_binds_as_one_value_whatever_its_length() -> None:
    # Given three services with their offers, and a read of several services' slots, each
    # service with its own earliest start (AnyOf and Pick: one array parameter per list)
    services = [ServiceFactory(), ServiceFactory(), ServiceFactory()]
    starts = {
        s.pk: list(Slot.objects.filter(service=s).order_by("start").values_list("start", flat=True)) for s in services
    }
    later = Compiled(
        lambda ids, after: Slot.objects.filter(
            AnyOf("service_id", ids, "uuid"),
            start__gt=Pick("service_id", ids, "uuid", after, "timestamptz", DateTimeField()),
        ).order_by("start", "pk")
    )
    for chosen in (services[:1], services, services[1:]):
        ids = [s.pk for s in chosen]
        afters = [starts[pk][i + 2] for i, pk in enumerate(ids)]
        # When it runs with lists of one, three and two
        rows = later.list(ids=ids, after=afters)
        # Then each service's slots after its own start, as the filters spelled per service find
        expected = sorted(
            (
                slot
                for pk, after in zip(ids, afters, strict=True)
                for slot in Slot.objects.filter(service_id=pk, start__gt=after)
            ),
            key=lambda slot: (slot.start, slot.pk),
        )
        assert [r.pk for r in rows] == [e.pk for e in expected]
        assert {r.service_id for r in rows} == set(ids)
    # ... and an empty list runs the queryset as built (nothing), never a stale shape
    assert later.list(ids=[], after=[]) == []
    if PG:
        assert len(later._shapes) == 1


def test_a_slice_bound_binds_as_one_value_whatever_the_page() -> None:
    # Given 30 offers of a service, and a read of 3 of them from an offset, inside a subquery
    # with values before and after it in the SQL (the account page's pages read like this)
    service = ServiceFactory()
    after = Slot.objects.filter(service=service).order_by("start").values_list("start", flat=True)[0]
    everything = list(Slot.objects.filter(service=service, start__gt=after).order_by("start", "pk"))
    page = Compiled(
        lambda service_id, offset, after: Slot.objects.filter(
            pk__in=Slot.objects.filter(service_id=service_id).order_by("start", "pk").values("pk")[offset : offset + 3],
            start__gt=after,
        ).order_by("start", "pk")
    )
    # When it is read at several offsets, the first page (no OFFSET in Django's SQL) too
    for offset in (0, 1, 4, 10):
        expected = list(
            Slot.objects.filter(
                pk__in=Slot.objects.filter(service_id=service.pk)
                .order_by("start", "pk")
                .values("pk")[offset : offset + 3],
                start__gt=after,
            ).order_by("start", "pk")
        )
        # Then each answers as its own queryset does
        assert page.list(service_id=service.pk, offset=offset, after=after) == expected
        assert expected == [s for s in everything if s in expected]
    assert len(page.list(service_id=service.pk, offset=4, after=after)) == 3
    if PG:
        # ... from one compiled shape: the offset a parameter, the page's length written in
        (shape,) = page._shapes.values()
        assert "LIMIT 3 OFFSET %s" in shape.sql
        assert [name for _, name in shape.slots] == ["service_id", "offset", "after"]


def test_none_runs_the_queryset_as_built() -> None:
    # Given appointments none of which was cancelled (cancelled_at IS NULL)
    cancelled_at = Compiled(lambda at: Appointment.objects.filter(cancelled_at=at))
    # When asked with None (`= NULL` would match nothing), then with a time
    # Then None reads IS NULL, and a time reads `=`, neither mistaken for the other
    assert cancelled_at.list(at=None) == list(Appointment.objects.filter(cancelled_at__isnull=True))
    assert cancelled_at.list(at=ServiceFactory().slots.first().start) == []  # type: ignore[union-attr]


@pytest.mark.postgres
def test_a_value_that_shapes_the_sql_is_refused() -> None:
    service = ServiceFactory()
    start = Slot.objects.filter(service=service).values_list("start", flat=True)[0]
    # A slice bound computed from a value is written into the SQL as that number
    with pytest.raises(ValueError, match="SQL depends on the values"):
        Compiled(lambda n: Slot.objects.order_by("start")[: n * 2]).list(n=3)
    # A parameter computed from a value would be kept as the first call's
    with pytest.raises(ValueError, match="computed from the values"):
        Compiled(lambda after: Slot.objects.filter(start__gt=after + timedelta(days=1))).list(after=start)
    # A value the SQL never uses is a mistake in `build`
    with pytest.raises(ValueError, match="never reach the SQL"):
        Compiled(lambda service_id, unused: Slot.objects.filter(service_id=service_id)).list(
            service_id=service.pk, unused="x"
        )
    # `__in` spells a placeholder per item: its SQL depends on the list's length
    with pytest.raises(ValueError, match="SQL depends on the values"):
        Compiled(lambda ids: Slot.objects.filter(service_id__in=ids)).list(ids=[service.pk])
    # A list of mixed types
    with pytest.raises(TypeError, match="mixes types"):
        Compiled(lambda ids: Slot.objects.filter(AnyOf("service_id", ids, "uuid"))).list(ids=[service.pk, "x"])
    # A value nothing can stand in for uniquely
    with pytest.raises(TypeError, match="cannot be bound"):
        Compiled(lambda active: Slot.objects.filter(service__is_active=active)).list(active=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_a_locking_read_still_needs_a_transaction() -> None:
    provider = ServiceFactory().provider
    locked = Compiled(lambda pk: Provider.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert locked.one(pk=provider.pk) == provider
    with pytest.raises(TransactionManagementError):
        locked.one(pk=provider.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_each_run_it_on_their_own_connection() -> None:
    # Given four services, compiled first in this thread
    services = [ServiceFactory() for _ in range(4)]
    first = Slot.objects.filter(service=services[0]).order_by("start").values_list("start", flat=True)[3]
    LATER.list(service_id=services[0].pk, after=first)
    answers: dict[int, Any] = {}

    def read(i: int) -> None:
        try:
            with transaction.atomic():  # each thread's own connection and transaction
                after = Slot.objects.filter(service=services[i]).order_by("start").values_list("start", flat=True)[i]
                got = LATER.list(service_id=services[i].pk, after=after)
                answers[i] = (got, list(Slot.objects.filter(service=services[i], start__gt=after).order_by("start")))
        finally:
            connections.close_all()

    # When four threads read at once
    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each got its own service's rows
    assert sorted(answers) == [0, 1, 2, 3]
    for got, expected in answers.values():
        assert got == expected
        assert got


def test_values_come_back_through_their_fields_converters() -> None:
    # Given appointment events whose data is JSON (a field whose converter decodes it)
    from bookings.models import AppointmentEvent
    from tests.factories import UserFactory, book_confirmed

    service = ServiceFactory()
    slots = list(Slot.objects.filter(service=service).order_by("start")[:2])
    for slot in slots:
        book_confirmed(UserFactory(), slot)
    events = list(AppointmentEvent.objects.order_by("pk"))
    data_of = Compiled(lambda pk: AppointmentEvent.objects.filter(pk=pk).values_list("data", flat=True))
    # When each is read through one compiled shape (its converters worked out once)
    # Then each comes back decoded, as the queryset gives it
    for event in events:
        assert data_of.list(pk=event.pk) == list(
            AppointmentEvent.objects.filter(pk=event.pk).values_list("data", flat=True)
        )
        assert isinstance(data_of.list(pk=event.pk)[0], dict)
