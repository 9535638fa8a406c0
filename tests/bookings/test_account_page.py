"""/account/: upcoming and past appointments and cards with real figures."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentStatus
from payments.models import Payment, PaymentStatus
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, cancel_as_shown

pytestmark = pytest.mark.django_db


def test_cards_show_exact_figures(
    client: Client, frozen_now: time_machine.Coordinates, django_capture_on_commit_callbacks: Any
) -> None:
    service = ServiceFactory(price_minor=4000)
    customer = UserFactory()
    client.force_login(customer)
    slots = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    first, second, third = (book_confirmed(customer, s) for s in slots[1:4])
    # Cancel one early (full refund executed) and mark one attended
    with django_capture_on_commit_callbacks(execute=True):
        cancel_as_shown(client, third)
    Appointment.objects.filter(pk=first.pk).update(status=AppointmentStatus.COMPLETED)
    body = client.get("/account/").content.decode()
    # Next appointment: the second one (the first is marked attended)
    assert f'href="/appointments/{second.pk}/">{service.name}</a>' in body
    assert '<span class="label">Upcoming</span><strong class="figure">1</strong>' in body
    assert '<span class="label">Total spent</span><strong class="figure">€80.00</strong>' in body
    assert '<span class="label">Refunds</span><strong class="figure">€40.00</strong>' in body
    assert "received · 0 pending" in body
    assert '<span class="label">Attended</span><strong class="figure">1</strong>' in body
    # ... and the cancelled one, with its refund, is in the past list
    assert "refund €40.00 · refunded" not in body
    assert "refund €40.00 · refunded" in client.get("/account/?show=past").content.decode()


def test_empty_account(client: Client) -> None:
    client.force_login(UserFactory())
    body = client.get("/account/").content.decode()
    assert "None booked" in body
    assert "No upcoming appointments." in body


def test_account_needs_a_customer(client: Client) -> None:
    assert client.get("/account/").status_code == 302
    client.force_login(ServiceFactory().provider.user)
    assert client.get("/account/").status_code == 403


def _history(customer: Any, service: Any, n: int, *, upcoming: bool = False) -> list[Appointment]:
    """n paid appointments inserted in bulk, an hour apart: attended and cancelled ones in the
    past, or (`upcoming`) confirmed ones from the service's first free time on."""
    slots = list(Slot.objects.filter(service=service).order_by("start")[:1])
    rows, payments = [], []
    base = slots[0].start - (timedelta(0) if upcoming else timedelta(days=400))
    for i in range(n):
        start = base + timedelta(hours=i)
        rows.append(
            Appointment(
                customer=customer,
                provider=service.provider,
                service=service,
                local_date=start.date(),
                start=start,
                end=start + timedelta(minutes=30),
                status=AppointmentStatus.CONFIRMED
                if upcoming
                else (AppointmentStatus.COMPLETED if i % 2 else AppointmentStatus.CANCELLED),
                price_minor=1000,
                currency="EUR",
                idempotency_key=str(uuid.uuid4()),
            )
        )
    Appointment.objects.bulk_create(rows)
    for a in rows:
        payments.append(
            Payment(
                reference=str(a.pk),
                customer=customer,
                amount_minor=1000,
                currency="EUR",
                status=PaymentStatus.SUCCEEDED,
                idempotency_key=str(uuid.uuid4()),
                gateway="sandbox",
            )
        )
    Payment.objects.bulk_create(payments)
    return rows


def test_account_costs_nine_queries_whatever_the_history(client: Client, frozen_now: object) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Given a customer with an upcoming booking and 5 past appointments
    service = ServiceFactory()
    customer = UserFactory()
    client.force_login(customer)
    book_confirmed(customer, Slot.objects.filter(service=service).order_by("start")[3])
    _history(customer, service, 5)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/account/").status_code == 200
    # When 2,495 more pile up behind them
    _history(customer, service, 2_495)
    with CaptureQueriesContext(connection) as large:
        response = client.get("/account/")
        past = client.get("/account/?show=past")
        older = client.get("/account/?show=past&page=40")
    # Then the page, its past list, and a page deep in the history, cost the same 9 queries:
    # session, user, the list's page and the next appointment in one read, their pending
    # requests and refunds, the cards in one statement, inbox and history in one,
    # preferences, access tokens (every field a card shows is read with it: one it did not
    # would cost a query per card)
    assert len(small.captured_queries) == 9
    assert len(large.captured_queries) == 27
    assert response.status_code == 200
    assert (past.status_code, older.status_code) == (200, 200)
    assert past.content.decode().count('class="appointment-card"') == 20
    assert older.content.decode().count('class="appointment-card"') == 20
    assert "€25,035.00" in response.content.decode()  # 2,500 × €10 paid, and the upcoming €35


def test_past_appointments_come_twenty_a_page_newest_first(client: Client, frozen_now: object) -> None:
    # Given 250 past appointments (13 pages, all one compiled read: the offset is bound, ADR 0029)
    service = ServiceFactory()
    customer = UserFactory()
    client.force_login(customer)
    _history(customer, service, 250)
    newest_first = list(Appointment.objects.filter(customer=customer).order_by("-start"))
    # When the customer opens the past list and goes to older pages
    numbers = (1, 2, 3, 10, 11, 12, 13)
    pages = {n: client.get(f"/account/?show=past&page={n}").content.decode() for n in numbers}
    # Then each page holds the next 20, newest first, with links both ways
    for n, body in pages.items():
        shown = [a for a in newest_first if f'href="/appointments/{a.pk}/"' in body]
        assert shown == newest_first[(n - 1) * 20 : n * 20], n
        assert '<a href="?show=past#appointments" aria-current="page">Past and cancelled</a>' in body
    assert len(newest_first[240:260]) == 10
    assert 'href="?show=past&amp;page=2#appointments">Older' in pages[1]
    assert "Newer" not in pages[1]
    assert 'href="?show=past&amp;page=1#appointments">← Newer' in pages[2]
    assert 'href="?show=past&amp;page=3#appointments">Older' in pages[2]
    assert 'href="?show=past&amp;page=12#appointments">Older' in pages[11]
    assert "Older" not in pages[13]
    # ... the upcoming list (the page's first) has none of them
    assert "No upcoming appointments." in client.get("/account/").content.decode()
    # ... and a page number that is not one shows the first page, one past the end an empty
    # list, never an error
    for bad in ("abc", "-3", "0"):
        response = client.get(f"/account/?show=past&page={bad}")
        assert response.status_code == 200
        assert [a for a in newest_first if f'href="/appointments/{a.pk}/"' in response.content.decode()] == (
            newest_first[:20]
        )
    for beyond in ("500", "99999999999"):
        assert "Nothing here yet." in client.get(f"/account/?show=past&page={beyond}").content.decode()


def test_upcoming_appointments_come_twenty_a_page_soonest_first(client: Client, frozen_now: object) -> None:
    # Given 45 upcoming appointments and 25 past ones
    service = ServiceFactory()
    customer = UserFactory()
    client.force_login(customer)
    soonest_first = _history(customer, service, 45, upcoming=True)
    past = _history(customer, service, 25)
    # When the customer pages through the upcoming ones (the account page's first list)
    pages = [client.get(f"/account/?page={n}").content.decode() for n in (1, 2, 3)]
    # Then each page holds the next 20 by start and every one of the 45 is reachable
    for n, body in enumerate(pages):
        shown = [a for a in soonest_first if f'href="/appointments/{a.pk}/"' in body]
        # the soonest is also the "Next appointment" card on every page
        assert shown == sorted({soonest_first[0], *soonest_first[n * 20 : n * 20 + 20]}, key=lambda a: a.start)
        card = body.split('<span class="label">Next appointment</span>')[1].split("</li>")[0]
        assert f'href="/appointments/{soonest_first[0].pk}/"' in card
        assert '<span class="label">Upcoming</span><strong class="figure">45</strong>' in body
        assert '<a href="/account/#appointments" aria-current="page">Upcoming</a>' in body
        # ... and none of the past ones: they have their own list
        assert not any(f'href="/appointments/{a.pk}/"' in body for a in past)
    # "Book again" belongs to the past list only (the upcoming one once showed it too)
    assert "Book again" not in pages[0]
    assert "Book again" in client.get("/account/?show=past").content.decode()
    assert 'href="?page=2#appointments">Later' in pages[0]
    assert "Sooner" not in pages[0]
    assert 'href="?page=1#appointments">← Sooner' in pages[1]
    assert 'href="?page=3#appointments">Later' in pages[1]
    assert "Later →" not in pages[2]
    # ... and a page past the end, or not a number, is never an error
    assert "No upcoming appointments." in client.get("/account/?page=9").content.decode()
    for bad in ("abc", "-1", "99999999999"):
        assert client.get(f"/account/?page={bad}").status_code == 200


def test_next_appointment_is_the_soonest_booked_one_even_behind_a_page_of_holds(
    client: Client, frozen_now: object
) -> None:
    # Given 21 unpaid holds before the customer's first booked appointment
    service = ServiceFactory()
    customer = UserFactory()
    client.force_login(customer)
    rows = _history(customer, service, 22, upcoming=True)
    Appointment.objects.filter(pk__in=[a.pk for a in rows[:21]]).update(status=AppointmentStatus.HELD)
    booked = rows[21]
    # When the account page opens on its first page (the holds fill it)
    body = client.get("/account/").content.decode()
    # Then the card names the booked one, which the list shows on the second page only
    card = body.split('<span class="label">Next appointment</span>')[1].split("</li>")[0]
    assert f'href="/appointments/{booked.pk}/"' in card
    assert body.count(f'href="/appointments/{booked.pk}/"') == 1
    assert f'href="/appointments/{booked.pk}/"' in client.get("/account/?page=2").content.decode()


def test_the_upcoming_list_reads_from_near_now_not_through_the_history(frozen_now: Any, client: Client) -> None:
    # Given a customer with past and upcoming appointments
    from django.db import connection
    from django.utils import timezone

    from providers.models import LONGEST_APPOINTMENT

    service = ServiceFactory()
    customer = UserFactory()
    _history(customer, service, 30)
    _history(customer, service, 3, upcoming=True)
    client.force_login(customer)
    seen: list[tuple[str, Any]] = []

    def keep(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if '"listed"' in sql:
            seen.append((sql, params))
        return execute(sql, params, many, context)

    # When the account page reads its upcoming list
    with connection.execute_wrapper(keep):
        assert client.get("/account/").status_code == 200
    # Then the upcoming read is bounded below on `start` (nothing ending after now starts
    # earlier than the longest appointment before it): the (customer, start) index starts near
    # now even in a prepared statement's generic plan, which walked the customer's whole history
    # without it (22 ms at 100,000 appointments against 0.7: benchmarks/RESULTS.md)
    (sql, params), *_ = seen
    # (the next appointment's read has one `start >` too: that one is `start > now`)
    assert sql.count('"U0"."start" > %s') >= 2
    if connection.vendor == "postgresql":  # SQLite gets the time as text
        assert timezone.now() - LONGEST_APPOINTMENT in params
