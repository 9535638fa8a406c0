"""A provider signed in with three paid bookings on Monday 30 November 2026 (09:00, 09:30, 10:00
Berlin, €40.00 each), as most dashboard tests start."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed


@pytest.fixture
def setup(client: Client, frozen_now: object) -> dict[str, Any]:
    service = ServiceFactory(price_minor=4000)
    client.force_login(service.provider.user)
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    customers = [UserFactory(email=f"c{i}@example.com") for i in range(3)]
    booked = [book_confirmed(c, s) for c, s in zip(customers, monday[:3], strict=True)]
    return {"service": service, "provider": service.provider, "booked": booked, "customers": customers}
