"""A real Celery worker continues the enqueuing trace: it exports OTLP/HTTP to a receiver run by
this test, and its dispatch span, the notification send and the Twilio HTTP call (to the local
fake) are children in the trace that enqueued the job; a job reclaimed after its worker was
killed joins the same trace too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from opentelemetry.sdk.trace import TracerProvider

from outbox.models import Job, JobStatus
from outbox.services import job_enqueue
from tests.celery_workers import stop_celery_worker
from tests.otlp_receiver import OtlpReceiver
from tests.outbox.test_queue_workers import _kick, _start_worker, _worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


def _attribute(span: Any, key: str) -> Any:
    for kv in span.attributes:
        if kv.key == key:
            value = kv.value
            return value.string_value or value.int_value
    return None


def test_the_worker_continues_the_enqueuing_trace_through_twilio_and_after_a_kill(receiver: OtlpReceiver) -> None:
    from notifications.models import Preference
    from notifications.services import notify
    from tests.factories import UserFactory
    from tests.notifications.fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    user = UserFactory()
    Preference.objects.create(user=user, channel="sms", phone="+4915112345678")
    # The "request": a span of the test's own tracer, in which a notification and a slow job
    # are enqueued (their rows store its traceparent)
    tracer = TracerProvider().get_tracer("test")
    with (
        tracer.start_as_current_span("booking request") as root,
        mock.patch("outbox.services._wake_workers"),
        transaction.atomic(),
    ):
        notify(event="refund_issued", recipient=user, context={"amount": "€9.00"}, key="traced")
        job_enqueue(kind_name="outbox.probe", payload={"key": "slow", "work_ms": 2500}, idempotency_key="slow")
    trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
    root_span_id = root.get_span_context().span_id.to_bytes(8, "big")
    assert Job.objects.exclude(traceparent="").count() == 2
    env = {
        # The lease outlasts the slow job (2.5 s) once it is reclaimed, but not the kill of its
        # first run: a shorter lease would let the next drain reclaim a run that is still going.
        **_worker_env(lease_seconds=4),
        "TWILIO_ACCOUNT_SID": "AC" + "3" * 32,
        "TWILIO_AUTH_TOKEN": "tracing-test-token",
        "TWILIO_SMS_FROM": "+15005550006",
        "TWILIO_API_BASE": fake.url,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "appointly-worker-test",
    }
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = _start_worker(env)
    try:
        _kick(env, 2)
        # Killed while the slow job runs: its lease expires and another worker reclaims it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not Job.objects.filter(kind="outbox.probe", attempts=1).exists():
            time.sleep(0.1)
        time.sleep(0.5)
        stop_celery_worker(worker, kill=True)
        worker = _start_worker(env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Job.objects.exclude(status=JobStatus.DONE).exists():
            _kick(env, 1)
            time.sleep(1.0)
        assert not Job.objects.exclude(status=JobStatus.DONE).exists()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (receiver.named("job outbox.probe") and receiver.named("POST")):
            time.sleep(0.2)
    finally:
        stop_celery_worker(worker)
        fake.stop()
    # The dispatch of the SMS job is a child of the "request" span, in its trace
    (dispatch,) = [s for s in receiver.named("job notifications.send") if s.trace_id == trace_id]
    assert dispatch.parent_span_id == root_span_id
    (send,) = [s for s in receiver.named("notification.send") if s.trace_id == trace_id]
    assert send.parent_span_id == dispatch.span_id
    assert _attribute(send, "notification.channel") == "sms"
    # The Twilio call (the real twilio client, to the local fake) is the send's child
    twilio = [s for s in receiver.named("POST") if s.trace_id == trace_id]
    assert twilio
    assert twilio[0].parent_span_id == send.span_id
    assert fake.requests
    # The slow job, reclaimed after the kill, still joins the trace on its second attempt
    reclaimed = [s for s in receiver.named("job outbox.probe") if s.trace_id == trace_id]
    assert reclaimed
    assert {_attribute(s, "job.attempt") for s in reclaimed} >= {2}
    assert all(s.parent_span_id == root_span_id for s in reclaimed)
