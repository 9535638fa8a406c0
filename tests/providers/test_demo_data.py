"""The demo a newcomer gets from `make run`: every feature can be tried, and the demo salon's
provider can change their schedule after the demo's cancellation (a 500 once)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from bookings.models import Appointment, AppointmentStatus, RescheduleRequest, TimeClaim
from providers.models import Provider, Service
from tests.factories import category, service_form

pytestmark = pytest.mark.django_db


def test_demo_loads_twice_and_its_provider_can_edit_hours_and_services_after_a_cancellation() -> None:
    # Given the demo data (loaded twice: idempotent)
    category()
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    statuses = sorted(Appointment.objects.values_list("status", flat=True))
    assert statuses == [AppointmentStatus.CANCELLED, AppointmentStatus.CONFIRMED, AppointmentStatus.CONFIRMED]
    assert RescheduleRequest.objects.filter(status="pending").count() == 1
    assert TimeClaim.objects.count() == 3  # two confirmed appointments and the request's time
    salon = Provider.objects.get(user__email="provider@appointly.test")
    provider = Client()
    provider.force_login(salon.user)
    # When the salon's provider changes the hours and a service's duration on the dashboard
    hours = provider.post("/onboarding/hours/", {f"day_{d}": "09:00-13:00, 14:00-19:00" for d in range(6)}, follow=True)
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
    assert "future slots recomputed" in hours.content.decode()
    assert edited.status_code == 200
    assert "future free slots replaced by" in edited.content.decode()
    assert Service.objects.get(pk=haircut.pk).duration_minutes == 40
    assert TimeClaim.objects.count() == 3
