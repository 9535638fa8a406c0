"""The booking load of the PostgreSQL-restart fault drill (tests/test_fault_drill.py), run as its
own process against a scratch cluster: customers hold and pay for contended times in threads
until a deadline, through the real services, reconnecting after database errors; then the
recovery jobs run as beat would run them later, and one JSON line reports what happened.

    DATABASE_URL=postgres://...scratch... python tests/fault_drill_load.py SECONDS
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appointly.settings.test")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, InterfaceError, OperationalError, connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from appointly.core import DomainError  # noqa: E402
from bookings import availability  # noqa: E402
from bookings.models import Appointment  # noqa: E402
from bookings.sandbox_pay import pay_in_sandbox  # noqa: E402
from bookings.services import appointment_hold, holds_expire, payments_settle_stale  # noqa: E402
from payments.webhooks import sandbox_deliver_now  # noqa: E402
from tests.factories import ServiceFactory, UserFactory, category  # noqa: E402

CUSTOMERS = 8


def main(seconds: float) -> None:
    call_command("migrate", verbosity=0)
    category()
    services = [ServiceFactory(), ServiceFactory()]
    customers = [UserFactory() for _ in range(CUSTOMERS)]
    slots = [s.pk for service in services for s in availability.offers(service).order_by("start")[:40]]
    connection.close()
    outcomes: Counter[str] = Counter()
    after_error_ok = Counter[str]()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    print("READY", flush=True)

    def customer(i: int) -> None:
        seen_error = False
        n = 0
        while time.monotonic() < deadline:
            n += 1
            slot_id = slots[(i * 7 + n) % len(slots)]  # customers overlap on the same times
            try:
                held = appointment_hold(customer=customers[i], slot_id=slot_id, idempotency_key=str(uuid.uuid4()))
                # Pay on the sandbox's page; its webhook arrives now (a cut one is sent again below)
                error = pay_in_sandbox(held, customers[i])
                status = Appointment.objects.filter(pk=held.pk).values_list("status", flat=True).first()
                result = "booked" if not error and status == "confirmed" else "not paid"
            except DomainError:
                result = "refused"
            except (OperationalError, InterfaceError, DatabaseError):
                result = "database error"
                seen_error = True
                connection.close()
                time.sleep(0.2)
            with lock:
                outcomes[result] += 1
                if seen_error and result == "booked":
                    after_error_ok["booked after an error"] += 1
        connection.close()

    threads = [threading.Thread(target=customer, args=(i,)) for i in range(CUSTOMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # What the gateway and beat do in the minutes after: webhooks cut off are sent again, cut-off
    # payments are asked about, lapsed holds go.
    sandbox_deliver_now()
    settled = payments_settle_stale(now=timezone.now() + timedelta(minutes=2))
    expired = holds_expire(now=timezone.now() + timedelta(minutes=30))
    # The next round closes the gateway pages of the holds that lapsed (nothing was paid there).
    settled += payments_settle_stale(now=timezone.now() + timedelta(minutes=32))
    print(json.dumps({**outcomes, **after_error_ok, "settled": settled, "expired": expired}), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
