"""The dashboard's cards against a known history (docs/adr/0009): months in the provider's zone,
refunds in the month they are paid back, partial refunds, no-shows, cancellations by side."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

import pytest
import time_machine
from django.test import Client

from bookings.services import appointment_cancel_by_customer
from outbox.services import outbox_drain
from payments.models import Payment, Refund
from providers.models import Slot
from tests.factories import ProviderFactory, ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

NEW_YORK = "America/New_York"  # UTC-5 in November and December: local months end 5 hours after UTC's


def cards(client: Client) -> dict[str, str]:
    """The cards as label -> figure (and the earnings card's gross/refunds line)."""
    body = client.get("/dashboard/earnings").content.decode()
    section = body.split('<ul class="cards"')[1].split("</ul>")[0]
    found = dict(re.findall(r'<span class="label">([^<]+)</span><strong class="figure">([^<]+)</strong>', section))
    found["detail"] = " | ".join(re.findall(r'<span class="muted">([^<]+)</span>', section))
    return found


def slot_at(service: Any, local: str) -> Slot:
    from zoneinfo import ZoneInfo

    start = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(NEW_YORK))
    return Slot.objects.get(service=service, start=start)


def test_months_are_the_providers_and_refunds_count_when_paid_back() -> None:
    # Given a New York provider open around the clock, with a €40.00 service
    # (full refund 24 h ahead, 50 % from 2 h ahead)
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False) as clock:
        provider = ProviderFactory(timezone=NEW_YORK, hours=[(time(0), time(23, 59))])
        service = ServiceFactory(provider=provider, price_minor=4000, max_appointments_per_day=47)
        client = Client()
        client.force_login(provider.user)
        late = book_confirmed(UserFactory(), slot_at(service, "2026-11-30 23:00"))  # Dec 1 04:00 UTC
        midnight = book_confirmed(UserFactory(), slot_at(service, "2026-12-01 00:00"))  # Dec 1 05:00 UTC

        # When the provider cancels `midnight` on Nov 30, 20:00 New York (already Dec 1 in UTC)
        clock.move_to(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
        client.post("/dashboard/appointments/cancel", {"ids": [str(midnight.pk)], "confirm": "1"})
        outbox_drain()
        # ...and marks `late` a no-show at 23:45 New York (Dec 1 04:45 UTC)
        clock.move_to(datetime(2026, 12, 1, 4, 45, tzinfo=UTC))
        client.post(f"/dashboard/appointments/{late.pk}/attendance", {"attended": "0"})

        # Then it is still November for them: both payments, the refund, the late appointment
        november = cards(client)
        assert november["Earnings, November 2026"] == "€40.00"
        assert "gross €80.00 · refunds €40.00" in november["detail"]
        assert november["Appointments this month"] == "1"
        assert november["No-shows this month"] == "1"
        assert november["Cancellations this month"] == "1"
        assert "0 by customers · 1 by you" in november["detail"]

        # When, on Dec 1 00:30 New York, a customer pays for Wed 2 Dec 10:00...
        clock.move_to(datetime(2026, 12, 1, 5, 30, tzinfo=UTC))
        december_booking = book_confirmed(UserFactory(), slot_at(service, "2026-12-02 10:00"))
        # ...and cancels it at 07:00 New York, 3 hours ahead: a 50 % refund, paid back at once
        clock.move_to(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
        appointment_cancel_by_customer(appointment=december_booking, customer=december_booking.customer)
        outbox_drain()

        # Then December holds that payment and that partial refund only; November's stay put
        december = cards(client)
        assert december["Earnings, December 2026"] == "€20.00"
        assert "gross €40.00 · refunds €20.00" in december["detail"]
        assert december["Appointments this month"] == "0"
        assert december["No-shows this month"] == "0"
        assert december["Cancellations this month"] == "1"
        assert "1 by customers · 0 by you" in december["detail"]
        assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [2000, 4000]


def test_a_refund_of_an_earlier_months_payment_subtracts_in_its_own_month() -> None:
    # Given a payment in November (Berlin) whose refund is paid back in December
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False) as clock:
        service = ServiceFactory(price_minor=4000)
        client = Client()
        client.force_login(service.provider.user)
        slot = Slot.objects.filter(service=service, slot_date="2026-12-07").order_by("start").first()
        booked = book_confirmed(UserFactory(), slot)
        clock.move_to(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
        appointment_cancel_by_customer(appointment=booked, customer=booked.customer)
        # When the refund is still pending, nothing subtracts yet
        assert "refunds 0" in cards(client)["detail"]
        outbox_drain()
        # Then, paid back, it subtracts from December: net is negative, written out
        december = cards(client)
        assert december["Earnings, December 2026"] == "-€40.00"
        assert "gross 0 · refunds €40.00" in december["detail"]
        # A later write to the payment row (an operator's note) does not move its month
        Payment.objects.update(failure_message="checked", updated_at=datetime(2026, 12, 2, 9, 5, tzinfo=UTC))
        assert cards(client)["Earnings, December 2026"] == "-€40.00"
