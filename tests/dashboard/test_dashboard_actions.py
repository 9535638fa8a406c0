"""The provider's day, reschedule answers, bulk cancel and attendance, through the pages."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, RescheduleStatus
from bookings.services import reschedule_request
from payments.models import Refund
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, hours_post, service_form

pytestmark = pytest.mark.django_db


def test_day_view_and_htmx_navigation(client: Client, setup: dict[str, Any]) -> None:
    page = client.get("/dashboard?day=2026-11-30").content.decode()
    assert "Monday 30 November" in page
    assert "09:00–09:30 CET" in page
    assert "c0@example.com" in page
    fragment = client.get("/dashboard?day=2026-12-01", headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="day"')
    assert "No appointments on this day." in fragment
    assert "<html" not in fragment


def test_accept_and_decline_reschedule_requests_in_place(client: Client, setup: dict[str, Any]) -> None:
    first, second = setup["booked"][:2]
    targets = list(Slot.objects.filter(service=setup["service"], slot_date=date(2026, 12, 1)).order_by("start"))
    r1 = reschedule_request(appointment=first, customer=first.customer, new_slot_id=targets[0].pk)
    r2 = reschedule_request(appointment=second, customer=second.customer, new_slot_id=targets[1].pk)
    page = client.get("/dashboard").content.decode()
    assert "Reschedule requests" in page
    assert f"/dashboard/reschedules/{r1.pk}/accept" in page
    client.post(f"/dashboard/reschedules/{r1.pk}/accept")
    client.post(f"/dashboard/reschedules/{r2.pk}/decline")
    assert Appointment.objects.get(pk=first.pk).start == targets[0].start
    assert Appointment.objects.get(pk=second.pk).start == second.start
    assert RescheduleRequest.objects.get(pk=r2.pk).status == RescheduleStatus.DECLINED
    assert client.post(f"/dashboard/reschedules/{r1.pk}/maybe").status_code == 404


def test_other_providers_requests_are_404(client: Client, setup: dict[str, Any]) -> None:
    first = setup["booked"][0]
    target = Slot.objects.filter(service=setup["service"], slot_date=date(2026, 12, 1)).first()
    request = reschedule_request(appointment=first, customer=first.customer, new_slot_id=target.pk)
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert other.post(f"/dashboard/reschedules/{request.pk}/accept").status_code == 404
    assert RescheduleRequest.objects.get(pk=request.pk).status == RescheduleStatus.PENDING


def test_bulk_cancel_reports_each_id_and_refunds_in_full(client: Client, setup: dict[str, Any]) -> None:
    mine = setup["booked"][:2]
    strangers = book_confirmed(UserFactory(), Slot.objects.filter(service=ServiceFactory()).first())
    ids = [str(mine[0].pk), str(mine[1].pk), str(strangers.pk), str(uuid.uuid4()), "garbage"]
    response = client.post("/dashboard/appointments/cancel", {"ids": ids, "reason": "Ill today", "confirm": "1"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('<td data-label="Result">cancelled</td>') == 2
    assert body.count('<td data-label="Result">not found</td>') == 3
    # Each result names the appointment: when, who, what (never another provider's)
    assert '<td data-label="When">Mon 30 Nov 2026, 09:00 CET</td><td data-label="Customer">c0@example.com</td>' in body
    assert body.count("An appointment we could not find") == 3
    assert Appointment.objects.get(pk=strangers.pk).status == AppointmentStatus.CONFIRMED
    refunds = list(Refund.objects.values_list("amount_minor", "reason"))
    assert sorted(refunds) == [(4000, "Cancelled by provider: Ill today")] * 2
    # Idempotent: again changes nothing
    again = client.post("/dashboard/appointments/cancel", {"ids": ids[:2], "confirm": "1"}).content.decode()
    assert again.count('<td data-label="Result">already cancelled</td>') == 2
    assert Refund.objects.count() == 2


def test_bulk_cancel_needs_a_selection(client: Client, setup: dict[str, Any]) -> None:
    response = client.post("/dashboard/appointments/cancel", {"ids": []}, follow=True)
    assert "Select at least one appointment" in response.content.decode()
    assert not Appointment.objects.filter(status=AppointmentStatus.CANCELLED).exists()


def test_attendance_after_the_start_only(
    client: Client, setup: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    appointment = setup["booked"][0]
    early = client.post(f"/dashboard/appointments/{appointment.pk}/attendance", {"attended": "1"}, follow=True)
    assert "has not started yet" in early.content.decode()
    frozen_now.move_to(appointment.start + timedelta(minutes=40))
    client.post(f"/dashboard/appointments/{appointment.pk}/attendance", {"attended": "0"})
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.NO_SHOW
    client.post(f"/dashboard/appointments/{appointment.pk}/attendance", {"attended": "1"})  # a correction
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.COMPLETED
    assert list(appointment.events.values_list("kind", flat=True))[-2:] == ["no_show", "checked_in"]


def test_customers_and_strangers_cannot_act(setup: dict[str, Any]) -> None:
    appointment = setup["booked"][0]
    customer = Client()
    customer.force_login(setup["customers"][0])
    assert (
        customer.post("/dashboard/appointments/cancel", {"ids": [str(appointment.pk)], "confirm": "1"}).status_code
        == 403
    )
    anonymous = Client()
    assert (
        anonymous.post("/dashboard/appointments/cancel", {"ids": [str(appointment.pk)], "confirm": "1"}).status_code
        == 302
    )
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert other.post(f"/dashboard/appointments/{appointment.pk}/attendance", {"attended": "1"}).status_code == 404
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.CONFIRMED


def test_cards_show_exact_figures_for_the_providers_month(
    client: Client, setup: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from bookings.services import appointment_cancel_by_customer
    from outbox.services import outbox_drain

    # Given 3 paid bookings of €40.00 on Mon 30 Nov; one cancelled early by its customer (full refund)
    first = setup["booked"][0]
    appointment_cancel_by_customer(appointment=first, customer=first.customer)
    outbox_drain()
    body = client.get("/dashboard/earnings").content.decode()
    assert '<span class="label">Earnings, November 2026</span><strong class="figure">€80.00</strong>' in body
    assert "gross €120.00 · refunds €40.00" in body
    # (this week is Mon 23 - Sun 29 Nov in Berlin: the bookings are next week)
    assert '<span class="label">Appointments this week</span><strong class="figure">0</strong>' in body
    assert '<span class="label">Appointments this month</span><strong class="figure">2</strong>' in body
    assert "1 by customers · 0 by you" in body
    # Another provider's money never shows
    other = ServiceFactory(price_minor=99900)
    book_confirmed(UserFactory(), Slot.objects.filter(service=other).first())
    assert "999.00" not in client.get("/dashboard/earnings").content.decode()


def test_dashboard_query_count_is_flat(
    client: Client, setup: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get("/dashboard?day=2026-11-30")
    service = setup["service"]
    for slot in Slot.objects.filter(service=service, slot_date=date(2026, 12, 1)).order_by("start")[:10]:
        book_confirmed(UserFactory(), slot)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get("/dashboard?day=2026-12-01")


def test_bulk_cancel_json_endpoint(client: Client, setup: dict[str, Any]) -> None:
    import json

    mine = setup["booked"][0]
    payload = {"ids": [str(mine.pk), str(uuid.uuid4())], "reason": "Closed for a day"}
    response = client.post("/api/v1/provider/appointments/cancel", json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "results": [{"id": str(mine.pk), "outcome": "cancelled"}, {"id": payload["ids"][1], "outcome": "not found"}]
    }
    # Bad bodies get the project's JSON error body with the right status, and change nothing
    for bad, status, code in (
        ("not json", 400, "invalid_json"),
        ("[" * 100_000, 413, "too_large"),
        ("[" * 50_000, 400, "invalid_json"),  # nested deeper than the parser goes
        # the schema's checks (the endpoint lives in the API now: docs/adr/0020)
        (json.dumps({"ids": []}), 422, "invalid_request"),
        (json.dumps({"ids": "x"}), 422, "invalid_request"),
        (json.dumps([1, 2]), 422, "invalid_request"),
        (json.dumps({"ids": ["a"] * 201}), 422, "invalid_request"),
    ):
        answer = client.post("/api/v1/provider/appointments/cancel", bad, content_type="application/json")
        assert answer.status_code == status, bad[:20]
        assert answer.json()["code"] == code
        assert set(answer.json()) == {"code", "message", "details"}
    assert Appointment.objects.filter(status=AppointmentStatus.CANCELLED).count() == 1


def test_week_view_lists_each_day(client: Client, setup: dict[str, Any]) -> None:
    page = client.get("/dashboard?view=week&day=2026-12-02").content.decode()
    assert "Week of 30 November" in page
    assert page.count('class="status-confirmed"') == 3
    assert "09:00 CET" in page
    fragment = client.get("/dashboard?view=week&day=2026-12-02", headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="day"')


def test_twelve_week_chart_counts_in_the_database(
    client: Client, setup: dict[str, Any], frozen_now: time_machine.Coordinates
) -> None:
    frozen_now.move_to("2026-12-02 10:00:00+00:00")  # the bookings' week is now "this week"
    page = client.get("/dashboard/earnings").content.decode()
    assert "<title>30 Nov: 3</title>" in page  # three appointments start that week
    assert "<title>23 Nov: €120.00</title>" in page  # paid on Wed 25 Nov
    assert "<title>14 Sep: 0</title>" in page  # the first of the 12 weeks, empty
    assert "Revenue per week (EUR)" in page


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-13-01", "yesterday"])
def test_absurd_days_fall_back_to_today(client: Client, setup: dict[str, Any], day: str) -> None:
    for view, heading in (("day", "Today, Wednesday 25 November"), ("week", "Week of 23 November")):
        response = client.get(f"/dashboard?view={view}&day={day}")
        assert response.status_code == 200
        assert heading in response.content.decode()


SERVICE_FORM = service_form(name="Scalp massage", price="20.00")


def test_create_edit_and_hide_a_service_from_the_dashboard(client: Client, setup: dict[str, Any]) -> None:
    from providers.models import Service
    from tests.factories import category

    assert client.get("/dashboard/services/new").status_code == 200
    response = client.post("/dashboard/services/new", {**SERVICE_FORM, "category": category().pk}, follow=True)
    service = Service.objects.get(name="Scalp massage")
    assert "is live with" in response.content.decode()
    before = Slot.objects.filter(service=service).count()
    # A schedule change regenerates the future free slots and says how many
    edited = client.post(
        f"/dashboard/services/{service.pk}/edit",
        {**SERVICE_FORM, "category": category().pk, "duration_minutes": "60", "max_appointments_per_day": "7"},
        follow=True,
    ).content.decode()
    assert f"{before} future free slots replaced by" in edited
    assert {s.end - s.start for s in Slot.objects.filter(service=service)} == {timedelta(minutes=60)}
    # A wording change keeps the slots
    ids = set(Slot.objects.filter(service=service).values_list("id", flat=True))
    same = client.post(
        f"/dashboard/services/{service.pk}/edit",
        {
            **SERVICE_FORM,
            "category": category().pk,
            "duration_minutes": "60",
            "max_appointments_per_day": "7",
            "description": "Relaxing.",
        },
        follow=True,
    ).content.decode()
    assert "the slots stay as they were" in same
    assert set(Slot.objects.filter(service=service).values_list("id", flat=True)) == ids
    # Hide it: no free slots, not public
    client.post(f"/dashboard/services/{service.pk}/toggle")
    assert not Service.objects.get(pk=service.pk).is_active
    assert client.get(f"/services/{service.slug}/").status_code == 404
    # Another provider cannot touch it
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert other.get(f"/dashboard/services/{service.pk}/edit").status_code == 404
    assert other.post(f"/dashboard/services/{service.pk}/toggle").status_code == 404


def test_bad_service_input_changes_nothing(client: Client, setup: dict[str, Any]) -> None:
    from providers.models import Service
    from tests.factories import category

    service = setup["service"]
    response = client.post(
        f"/dashboard/services/{service.pk}/edit", {**SERVICE_FORM, "category": category().pk, "price": "-3"}
    )
    assert response.status_code == 200
    assert "The price must be more than zero." in response.content.decode()
    assert Service.objects.get(pk=service.pk).price_minor == 4000


def test_appointments_outside_new_hours_are_listed_not_cancelled(client: Client, setup: dict[str, Any]) -> None:
    # Bookings on Mon 30 Nov 09:00-10:30; the provider now opens Mondays only from 13:00
    before = set(Slot.objects.values_list("id", flat=True))
    response = client.post(
        "/dashboard/hours", hours_post({0: "13:00-20:00", 1: "09:00-12:00, 13:00-17:00"}), follow=True
    )
    saved = response.content.decode()
    body = client.get("/dashboard").content.decode()
    assert "Booked outside your current hours" in body
    # The page says how many slots were made anew: Mondays 13-20 (Tuesdays keep their offers,
    # whose times did not change, and so the links customers hold stay valid)
    new = Slot.objects.exclude(id__in=before)
    assert {s.slot_date.weekday() for s in new} == {0}
    assert Slot.objects.filter(id__in=before, slot_date=date(2026, 12, 1)).count() == 14
    assert f"free times removed and {new.count()} added." in saved
    section = body.split("Booked outside your current hours")[1].split("</section>")[0]
    assert section.count("<li>") == 3
    assert "Mon 30 Nov, 09:00 CET" in section
    assert "Mon 30 Nov, 10:00 CET" in section
    assert Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).count() == 3


def test_an_appointment_opens_with_its_timeline(client: Client, setup: dict[str, Any]) -> None:
    appointment = setup["booked"][0]
    day = client.get("/dashboard?day=2026-11-30").content.decode()
    assert f'/dashboard/appointments/{appointment.pk}"' in day
    page = client.get(f"/dashboard/appointments/{appointment.pk}").content.decode()
    assert "Monday 30 November 2026, 09:00–09:30 CET (Europe/Berlin)" in page
    assert "c0@example.com" in page
    assert "Booking started" in page
    assert "Confirmed" in page
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert other.get(f"/dashboard/appointments/{appointment.pk}").status_code == 404
