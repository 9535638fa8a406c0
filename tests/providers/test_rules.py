"""The service and hours rules live in the service layer (and the database): the admin, the
dashboard, the wizard and the coming API all get the same answers in the same words."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from providers.models import Service, Slot
from providers.rules import ScheduleInvalid
from providers.services import provider_hours_set, service_create, service_update
from tests.factories import ServiceFactory, category

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"duration_minutes": 3}, "duration_minutes", "An appointment lasts at least 5 minutes."),
        ({"duration_minutes": 99999999999999999999}, "duration_minutes", "An appointment lasts at most 12 hours."),
        ({"price_minor": 0}, "price_minor", "The price must be more than zero."),
        ({"price_minor": 10**30}, "price_minor", "That price is too high for one appointment."),
        ({"buffer_after_minutes": 10**20}, "buffer_after_minutes", "A buffer is at most 240 minutes."),
        ({"max_appointments_per_day": 0}, "max_appointments_per_day", "Allow 1 to 500 appointments a day."),
        ({"booking_window_days": 365}, "booking_window_days", "Customers can book 1 to 90 days ahead."),
        ({"refund_partial_hours": 48}, "refund_partial_hours", "must not be earlier than the full one"),
        ({"refund_partial_percent": 150}, "refund_partial_percent", "A partial refund is 0 to 100 %."),
        ({"max_appointments_per_day": 20}, "max_appointments_per_day", "Your longest day fits at most 14"),
        ({"duration_minutes": 600}, "duration_minutes", "No appointment of this length"),
    ],
)
def test_service_update_refuses_what_breaks_a_rule_and_changes_nothing(
    frozen_now: object, change: dict[str, int], field: str, message: str
) -> None:
    service = ServiceFactory()
    slots = set(Slot.objects.filter(service=service).values_list("pk", flat=True))
    with pytest.raises(ScheduleInvalid) as refused:
        service_update(service=Service.objects.get(pk=service.pk), **change)
    assert field in refused.value.errors
    assert message in refused.value.errors[field]
    fresh = Service.objects.get(pk=service.pk)
    assert (fresh.duration_minutes, fresh.price_minor, fresh.max_appointments_per_day) == (30, 3500, 14)
    assert set(Slot.objects.filter(service=service).values_list("pk", flat=True)) == slots


def test_service_create_refuses_a_limit_the_hours_cannot_fit(frozen_now: object) -> None:
    provider = ServiceFactory().provider
    with pytest.raises(ScheduleInvalid) as refused:
        service_create(
            provider=provider,
            category=category(),
            name="Long",
            duration_minutes=240,
            price_minor=100,
            max_appointments_per_day=3,
        )
    assert "fits at most 1" in refused.value.errors["max_appointments_per_day"]
    assert not Service.objects.filter(name="Long").exists()


def test_hours_that_do_not_fit_a_service_are_refused(frozen_now: object) -> None:
    service = ServiceFactory(max_appointments_per_day=10)
    with pytest.raises(ScheduleInvalid) as refused:
        provider_hours_set(provider=service.provider, weekly=[(0, time(9), time(11))], exceptions=[])
    assert "allows 10 appointments a day, but these hours fit at most 4" in refused.value.errors[None]
    assert service.provider.weekly_intervals.count() == 10


def test_the_database_holds_the_ranges_whatever_writes_the_row(frozen_now: object) -> None:
    service = ServiceFactory()
    for change in (
        {"duration_minutes": 1},
        {"duration_minutes": 721},
        {"buffer_before_minutes": 241},
        {"price_minor": 10**8 + 1},
        {"booking_window_days": 0},
        {"refund_partial_percent": 101},
        {"max_appointments_per_day": 501},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Service.objects.filter(pk=service.pk).update(**change)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", "1e30", "That price is too high for one appointment."),
        ("price", "NaN", "The price must be more than zero."),
        ("duration_minutes", "99999999999999999999", "An appointment lasts at most 12 hours."),
        ("buffer_after_minutes", "99999999999999999999", "A buffer is at most 240 minutes."),
        ("max_appointments_per_day", "99999999999999999999", "Allow 1 to 500 appointments a day."),
    ],
)
def test_absurd_numbers_on_the_service_form_are_field_errors_not_500s(
    client: Any, frozen_now: object, field: str, value: str, message: str
) -> None:
    from tests.factories import service_form

    service = ServiceFactory()
    client.force_login(service.provider.user)
    response = client.post(
        f"/dashboard/services/{service.pk}/edit", service_form(category=category().pk, **{field: value})
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    fresh = Service.objects.get(pk=service.pk)
    assert (fresh.price_minor, fresh.duration_minutes, fresh.buffer_after_minutes) == (3500, 30, 0)
