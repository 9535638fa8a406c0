"""Query budgets: the provider's pages and bulk cancel cost the same with 10 or 10,000
appointments behind them (aggregates run in the database, reads are bounded by date)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings.models import Appointment, AppointmentStatus, TimeClaim
from notifications.models import Message
from outbox.models import Job
from payments.models import Refund
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, services_copied

pytestmark = pytest.mark.django_db
# A bulk cancel, however many: 16 queries on PostgreSQL; on SQLite the messages and their send
# jobs are two statements, not one (ADR 0028)
CANCEL = 16 if connection.vendor == "postgresql" else 17


def history(service: Any, customer: Any, n: int, offset: int) -> None:
    """`n` past appointments, every 3 hours back across 3 years, in all closing states."""
    slot = Slot.objects.filter(service=service).first()
    start = slot.start - timedelta(days=3 * 365)
    states = [AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED]
    Appointment.objects.bulk_create(
        Appointment(
            customer=customer,
            provider=service.provider,
            service=service,
            local_date=(start + timedelta(hours=3 * i)).date(),
            start=start + timedelta(hours=3 * i),
            end=start + timedelta(hours=3 * i, minutes=30),
            status=states[i % 3],
            cancelled_by="customer" if i % 3 == 2 else "",
            cancelled_at=start + timedelta(hours=3 * i - 30) if i % 3 == 2 else None,
            price_minor=4000,
            currency="EUR",
            idempotency_key=str(uuid.uuid4()),
        )
        for i in range(offset, offset + n)
    )


def queries(fn: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_pages_and_a_50_appointment_bulk_cancel_stay_flat_from_10_to_10000(frozen_now: object) -> None:
    # Given a provider with 100 upcoming paid appointments and 10 past ones
    service = ServiceFactory(price_minor=4000)
    client = Client()
    client.force_login(service.provider.user)
    customer = UserFactory()
    slots = list(Slot.objects.filter(service=service, slot_date__gte=date(2026, 11, 30)).order_by("start")[:100])
    upcoming = [str(book_confirmed(customer, slot).pk) for slot in slots]
    history(service, customer, 10, 0)

    def measure(batch: list[str]) -> dict[str, int]:
        return {
            "dashboard": queries(lambda: client.get("/dashboard")),
            "day": queries(lambda: client.get("/dashboard?day=2026-11-30", headers={"HX-Request": "true"})),
            "week": queries(lambda: client.get("/dashboard?view=week&day=2026-12-01", headers={"HX-Request": "true"})),
            **{
                page: queries(lambda page=page: client.get(f"/dashboard/{page}"))  # type: ignore[misc]
                for page in ("appointments", "services", "hours", "earnings", "payouts", "messages", "settings", "qr")
            },
            "panel": queries(lambda: client.get("/dashboard/panel", headers={"HX-Request": "true"})),
            "confirm": queries(lambda: client.post("/dashboard/appointments/cancel", {"ids": batch})),
            "cancel": queries(lambda: client.post("/dashboard/appointments/cancel", {"ids": batch, "confirm": "1"})),
        }

    small = measure(upcoming[:50])
    # When 9,990 more appointments pile up behind them
    history(service, customer, 9_990, 10)
    large = measure(upcoming[50:])
    # Then every page and the cancel of 50 run exactly as many queries as before
    assert large == small
    # ... and the cancel of 50 is set-based: 16 queries, as for one (tests/dashboard/
    # test_dashboard_actions.py), not ~30 per appointment (1,505 before)
    assert small["cancel"] == CANCEL
    assert Appointment.objects.filter(pk__in=upcoming, status=AppointmentStatus.CANCELLED).count() == 100


def test_a_bulk_cancel_of_fifty_costs_the_queries_of_one(frozen_now: object) -> None:
    # Given a provider with 51 upcoming paid appointments
    service = ServiceFactory(price_minor=4000)
    client = Client()
    client.force_login(service.provider.user)
    slots = list(Slot.objects.filter(service=service, slot_date__gte=date(2026, 11, 30)).order_by("start")[:51])
    booked = [book_confirmed(UserFactory(), slot) for slot in slots]
    costs = {}
    # When they cancel one, then the other fifty (with an unknown id among them)
    for batch in ([str(booked[0].pk)], [str(a.pk) for a in booked[1:]] + [str(uuid.uuid4())]):
        with CaptureQueriesContext(connection) as ctx:
            response = client.post("/dashboard/appointments/cancel", {"ids": batch, "confirm": "1", "reason": "Ill"})
        assert response.status_code == 200
        costs[len(batch)] = len(ctx.captured_queries)
    # Then both cost the same (the writes are set-based), and each of the 51 was cancelled,
    # refunded in full, its time freed, its customer told and its events written
    assert costs == {1: CANCEL, 51: CANCEL}
    assert response.content.decode().count('<td data-label="Result">cancelled</td>') == 50
    assert Appointment.objects.filter(status=AppointmentStatus.CANCELLED, cancel_reason="Ill").count() == 51
    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [4000] * 51
    assert Job.objects.filter(kind="payments.refund_execute").count() == 51
    assert not TimeClaim.objects.filter(appointment__in=booked).exists()
    for appointment in booked:
        assert Message.objects.filter(
            recipient=appointment.customer, event="cancelled_by_provider", reference=str(appointment.pk)
        ).exists()
        assert [e.kind for e in appointment.events.all()][-2:] == ["cancelled", "refunded"]


def test_service_pages_cost_the_same_with_one_service_or_sixty(frozen_now: object) -> None:
    # Given a provider with one service (and its slots)
    service = ServiceFactory(price_minor=4000)
    provider = service.provider
    client = Client()
    client.force_login(provider.user)
    visitor = Client()

    def measure() -> dict[str, int]:
        return {
            "dashboard services": queries(lambda: client.get("/dashboard/services")),
            "dashboard services, page 2": queries(lambda: client.get("/dashboard/services?page=2")),
            "browse": queries(lambda: visitor.get("/")),
            "browse, page 2": queries(lambda: visitor.get("/?page=2")),
            "service page": queries(lambda: visitor.get(f"/services/{service.slug}/")),
        }

    one = measure()
    # When they add 59 more
    services_copied(service, 59)
    sixty = measure()
    # Then every page costs what it did (a page of 25 with its free times in one query)
    assert sixty == one
    assert one == {
        "dashboard services": 7,
        "dashboard services, page 2": 7,
        "browse": 4,
        "browse, page 2": 4,
        "service page": 3,
    }
    page = client.get("/dashboard/services?page=3").content.decode()
    assert page.count('<td data-label="Free slots ahead">') == 10  # 60 = 25 + 25 + 10
    assert "Page 3 of 3" in page
    # A page number that is not one shows a page, never an error
    for bad in ("abc", "-1", "0", "99999999999999"):
        assert client.get(f"/dashboard/services?page={bad}").status_code == 200
    # The one service with slots shows what the one definition of bookable counts for it
    from bookings.availability import offers

    pages = "".join(client.get(f"/dashboard/services?page={n}").content.decode() for n in (1, 2, 3))
    free = offers(service).count()
    assert free > 0
    assert pages.count(f'<td data-label="Free slots ahead">{free}</td>') == 1
    assert pages.count('<td data-label="Free slots ahead">0</td>') == 59
