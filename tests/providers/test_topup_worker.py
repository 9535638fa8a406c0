"""The beat task runs in a real Celery worker over Redis and fills the slot window."""

from __future__ import annotations

import os
import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker

from appointly.celery import app
from providers.models import Service, Slot
from providers.tasks import slots_topup_task
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_worker() -> object:
    app.conf.update(
        broker_url=os.environ["REDIS_URL"], task_always_eager=False, result_backend=None, task_ignore_result=True
    )
    _forget_connections()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker
    finally:
        app.conf.update(broker_url="memory://", task_always_eager=True)
        _forget_connections()


def _forget_connections() -> None:
    """Earlier (eager) tests left connection pools on the in-memory broker; what the worker
    sends from here on (the queue's wake-up) must go to Redis. Celery does the same after fork."""
    app._pool = None
    app.amqp._producer_pool = None


def test_topup_task_sent_through_redis_creates_the_missing_days(frozen_now: object, redis_worker: object) -> None:
    # Given a service whose slots after Fri 4 Dec were never generated
    service = ServiceFactory()
    full = Slot.objects.filter(service=service).count()
    cutoff = date(2026, 12, 4)
    Slot.objects.filter(service=service, slot_date__gt=cutoff).delete()
    Service.objects.filter(pk=service.pk).update(slots_generated_until=cutoff)
    assert Slot.objects.filter(service=service).count() == full - 14 * 14
    # When beat's task is sent to the broker and a real worker picks it up
    # (an explicit connection: earlier eager tests cached a producer pool on the memory broker)
    with app.connection_for_write(os.environ["REDIS_URL"]) as connection:
        slots_topup_task.apply_async(connection=connection)  # type: ignore[call-arg]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Service.objects.get(pk=service.pk).slots_generated_until != cutoff:
            break
        time.sleep(0.2)
    # Then the window is full again, to Thu 24 Dec
    service.refresh_from_db()
    assert service.slots_generated_until == date(2026, 12, 24)
    assert Slot.objects.filter(service=service).count() == full
