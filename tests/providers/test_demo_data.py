"""The demo a newcomer gets from `make run`: every feature can be tried, and the demo salon's
provider can change their schedule after the demo's cancellation (a 500 once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, TimeClaim
from payments.models import Payment
from providers.models import Provider, Service
from tests.factories import category, hours_post, service_form

pytestmark = pytest.mark.django_db


def test_demo_loads_twice_and_its_provider_can_edit_hours_and_services_after_a_cancellation() -> None:
    # Given the demo data (loaded twice: idempotent)
    category()
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    statuses = sorted(Appointment.objects.values_list("status", flat=True))
    assert statuses == [AppointmentStatus.CANCELLED, *[AppointmentStatus.CONFIRMED] * 4]
    assert Appointment.objects.filter(pay_at_venue=True, customer_name="Rui Costa").count() == 1  # the walk-in
    assert RescheduleRequest.objects.filter(status="pending").count() == 1
    # four confirmed appointments (one at the check-in desk, one a walk-in) and the request's time
    assert TimeClaim.objects.count() == 5
    salon = Provider.objects.get(user__email="provider@appointly.test")
    # The salon's payouts are set up (paid through the sandbox's hosted page, every payment has
    # its checkout session); the other demo businesses can try setting them up
    assert salon.payout_account_ready
    assert Provider.objects.filter(payout_account_ready=False).exists()
    assert not Payment.objects.filter(checkout_session_id="").exists()
    provider = Client()
    provider.force_login(salon.user)
    # When the salon's provider changes the hours and a service's duration on the dashboard
    hours = provider.post(
        "/dashboard/hours", hours_post(dict.fromkeys(range(6), "09:00-13:00, 14:00-19:00")), follow=True
    )
    haircut = Service.objects.get(provider=salon, slug__startswith="haircut")
    edited = provider.post(
        f"/dashboard/services/{haircut.pk}/edit",
        service_form(
            name=haircut.name,
            category=haircut.category_id,
            duration_minutes="40",
            price="30.00",
            max_appointments_per_day="8",
            min_notice_minutes="60",
        ),
        follow=True,
    )
    # Then both succeed and the bookings keep their times
    assert hours.status_code == 200
    assert "Hours saved: " in hours.content.decode()
    assert edited.status_code == 200
    assert "future free slots replaced by" in edited.content.decode()
    assert Service.objects.get(pk=haircut.pk).duration_minutes == 40
    assert TimeClaim.objects.count() == 5


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 23, 52, tzinfo=UTC),  # the desk's last offer of the day has passed
        datetime(2026, 3, 29, 0, 40, tzinfo=UTC),  # Lisbon's clocks go forward at 01:00
        datetime(2026, 11, 29, 3, 7, 30, tzinfo=UTC),  # a Sunday night
    ],
)
def test_whenever_make_run_starts_the_demo_customer_can_check_in(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        category()
        out = StringIO()
        call_command("seed_demo", stdout=out)
        call_command("seed_demo", stdout=StringIO())  # again: no second appointment
        desk = Provider.objects.get(user__email="desk@appointly.test")
        assert desk.auto_no_show_since == moment
        booked = Appointment.objects.filter(provider=desk, customer__email="customer@appointly.test")
        assert booked.count() == 1
        assert (
            f"has a {booked.get().start.astimezone(ZoneInfo('Europe/Lisbon')):%H:%M %Z} appointment" in out.getvalue()
        )
        customer = Client()
        customer.force_login(booked.get().customer)
        page = customer.get(f"/mark?id={desk.qr_token}").content.decode()
        assert "Check in</button>" in page
        assert "You're checked in" in customer.post(f"/mark?id={desk.qr_token}").content.decode()
    # An hour later the next `make run` books a fresh one (the first has ended)
    with time_machine.travel(moment + timedelta(hours=1), tick=False):
        call_command("seed_demo", stdout=StringIO())
        assert Appointment.objects.filter(provider=desk, customer__email="customer@appointly.test").count() == 2
