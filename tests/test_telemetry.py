"""OpenTelemetry: one trace from the request through the database and our job table, logs
carrying the trace id, and nothing secret in what is exported."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.test import Client
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from appointly import telemetry
from outbox.models import Job
from outbox.services import outbox_drain
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, hidden_fields, pay_flow


class Recording(SpanProcessor):
    """Keeps finished spans only while a test asks (the provider is global and stays for the
    rest of the session)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.on = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.exporter.export([span])


RECORDING = Recording()
READER = InMemoryMetricReader()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    telemetry.configure(processor=RECORDING, metric_reader=READER)
    RECORDING.exporter.clear()
    RECORDING.on = True
    yield RECORDING.exporter
    RECORDING.on = False
    RECORDING.exporter.clear()


def everything_exported(finished: list[ReadableSpan]) -> str:
    """Every name, attribute and event of every span, as one text to search for secrets."""
    parts = []
    for s in finished:
        parts.append(s.name)
        parts.extend(f"{k}={v!s}" for k, v in (s.attributes or {}).items())  # type: ignore[str-bytes-safe]
        for event in s.events:
            parts.extend(f"{k}={v!s}" for k, v in (event.attributes or {}).items())  # type: ignore[str-bytes-safe]
    return "\n".join(parts)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_is_one_trace_from_the_request_through_sql_to_the_job_the_worker_runs(
    spans: InMemorySpanExporter, frozen_now: object, caplog: pytest.LogCaptureFixture
) -> None:
    service = ServiceFactory(price_minor=3000)
    customer = UserFactory(email="traced@example.com")
    client = Client()
    client.force_login(customer)
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start")[2]
    spans.clear()
    # When the customer holds a time (one request)
    with caplog.at_level(logging.INFO):
        client.post(f"/book/{slot.pk}/", hidden_fields(client.get(f"/book/{slot.pk}/").content.decode()))
    hold_spans = spans.get_finished_spans()
    request = next(s for s in hold_spans if s.name.startswith("POST") and s.kind.name == "SERVER")
    trace_id = request.context.trace_id
    same_trace = [s for s in hold_spans if s.context.trace_id == trace_id]
    # Then the request span holds its SQL spans and our booking span
    sql = [s for s in same_trace if (s.attributes or {}).get("db.system") == "postgresql"]
    assert len(sql) >= 5
    hold = next(s for s in same_trace if s.name == "booking.hold")
    assert dict(hold.attributes or {})["outcome"] == "ok"
    assert dict(hold.attributes or {})["appointment.status"] == "held"
    # When the customer pays and the webhook confirms: the notifications' jobs carry the trace
    spans.clear()
    pay_flow(client, _appointment_of(customer))
    webhook = next(s for s in spans.get_finished_spans() if s.name == "payment.webhook")
    jobs = Job.objects.filter(kind="notifications.send").exclude(traceparent="")
    assert jobs.exists()
    assert {j.traceparent.split("-")[1] for j in jobs} == {f"{webhook.context.trace_id:032x}"}
    # And the worker's dispatch of each job (at once when the test's eager Celery wakes a
    # drain on commit, or by a later drain) is a child in that same trace
    outbox_drain()
    dispatched = [s for s in spans.get_finished_spans() if s.name == "job notifications.send"]
    assert dispatched
    assert {s.context.trace_id for s in dispatched} == {webhook.context.trace_id}
    assert all(s.parent is not None for s in dispatched)
    assert {dict(s.attributes or {})["job.outcome"] for s in dispatched} == {"done"}
    sends = [s for s in spans.get_finished_spans() if s.name == "notification.send"]
    assert {s.parent.span_id for s in sends} <= {s.context.span_id for s in dispatched}  # type: ignore[union-attr]
    # A log line written while the webhook was handled carries the webhook's trace and span ids
    logged = next(r for r in caplog.records if r.name == "payments.webhooks")
    assert logged.otelTraceID == f"{webhook.context.trace_id:032x}"  # type: ignore[attr-defined]
    assert logged.otelSpanID != "0"  # type: ignore[attr-defined]


def _appointment_of(customer: Any) -> Any:
    from bookings.models import Appointment

    return Appointment.objects.get(customer=customer)


@pytest.mark.django_db
def test_a_statement_is_a_span_under_the_work_that_ran_it_and_costs_no_span_outside_any(
    spans: InMemorySpanExporter,
) -> None:
    from django.db import DatabaseError, connection, transaction

    # Given telemetry on; When a statement runs outside any span, then two inside one (the second fails)
    Slot.objects.filter(slot_date=date(2026, 11, 30)).count()
    with telemetry.span("work"):
        Slot.objects.filter(slot_date=date(2026, 11, 30)).count()
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT nothing FROM no_such_table")
    # Then only the two inside are spans, children of that work, named by their verb, with the
    # statement's placeholders and not its values; the failed one says so
    finished = spans.get_finished_spans()
    work = next(s for s in finished if s.name == "work")
    statements = [s for s in finished if "db.statement" in (s.attributes or {})]
    assert {s.parent.span_id for s in statements} == {work.context.span_id}  # type: ignore[union-attr]
    sql = [s for s in statements if s.name == "SELECT"]  # (and the savepoint's statements around the second)
    assert len(sql) == 2
    counted = dict(sql[0].attributes or {})
    assert counted["db.system"] == connection.vendor
    assert "slot_date" in str(counted["db.statement"])
    assert "2026-11-30" not in str(counted["db.statement"])
    assert sql[0].status.status_code.name == "UNSET"
    assert sql[1].status.status_code.name == "ERROR"
    assert not [s for s in finished if s.parent is None and s.name != "work"]


@pytest.mark.django_db
def test_no_code_token_challenge_or_email_is_exported(spans: InMemorySpanExporter, frozen_now: object) -> None:
    import io

    from django.conf import settings
    from django.utils.module_loading import import_string

    from appointly.redaction import RedactSecrets

    service = ServiceFactory()
    provider = service.provider
    client = Client()
    # The production log handler: the redaction filter and the JSON formatter
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(RedactSecrets())
    json_format: dict[str, Any] = dict(settings.LOGGING["formatters"]["json"])  # type: ignore[index]
    handler.setFormatter(import_string(json_format.pop("()"))(**json_format))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        # A QR scan, a sign-in challenge page, a query with an email, a sign-up confirmation link
        client.get(f"/mark?id={provider.qr_token}")
        client.get("/auth/chal_secret_abcdef123456")
        client.get("/?q=someone@example.com")
        client.get("/signup-provider/verify/signed-token-value-xyz")
        client.post("/login-provider", {"email": provider.user.email, "password": "not-the-password-123"})
        logging.getLogger("appointly.test").warning(
            "sent to %s for /mark?id=%s", provider.user.email, provider.qr_token
        )
    finally:
        root.removeHandler(handler)
    logged = lines.getvalue()
    assert "[redacted]" in logged
    assert '"trace_id"' in logged
    exported = everything_exported(spans.get_finished_spans()) + "\n" + logged
    assert exported  # spans were recorded
    for secret in (
        provider.qr_token,
        "chal_secret_abcdef123456",
        "someone@example.com",
        "signed-token-value-xyz",
        provider.user.email,
        "not-the-password-123",
    ):
        assert secret not in exported, secret
    assert re.search(r"/mark\?id=\[redacted\]", exported)


def metric_points() -> dict[str, list[Any]]:
    """Every data point the meter has, by metric name (cumulative since the process began)."""
    points: dict[str, list[Any]] = {}
    data = READER.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def total(points: dict[str, list[Any]], name: str, **attributes: str) -> float:
    return sum(
        p.value for p in points.get(name, []) if all(dict(p.attributes).get(k) == v for k, v in attributes.items())
    )


@pytest.mark.django_db
def test_metrics_after_a_scripted_scenario(spans: InMemorySpanExporter, frozen_now: object) -> None:
    from bookings.services import appointment_hold
    from outbox.services import job_enqueue

    before = metric_points()
    service = ServiceFactory(price_minor=2500)
    customer = UserFactory()
    client = Client()
    client.force_login(customer)
    slots = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    # Two holds (one of them a time already taken), one payment through the hosted page
    client.post(f"/book/{slots[2].pk}/", hidden_fields(client.get(f"/book/{slots[2].pk}/").content.decode()))
    with pytest.raises(Exception, match="taken"):
        appointment_hold(customer=UserFactory(), slot_id=slots[2].pk, idempotency_key="another-key")
    pay_flow(client, _appointment_of(customer))
    # A job that fails on its only attempt, and three waiting to run
    job_enqueue(kind_name="outbox.probe", payload={}, idempotency_key="doomed", max_attempts=1)
    outbox_drain()
    for n in range(3):
        job_enqueue(kind_name="outbox.noop", payload={}, idempotency_key=f"waiting-{n}")
    after = metric_points()

    def grew(name: str, **attributes: str) -> float:
        return total(after, name, **attributes) - total(before, name, **attributes)

    assert grew("appointly.bookings", step="booking.hold", outcome="ok") == 1
    assert grew("appointly.bookings", step="booking.hold", outcome="SlotUnavailable") == 1
    assert grew("appointly.bookings", step="booking.pay", outcome="ok") == 1
    assert grew("appointly.queue.dead_letters", **{"job.kind": "outbox.probe"}) == 1
    assert grew("appointly.notifications", channel="email", outcome="sent") >= 2  # customer and provider
    assert total(after, "appointly.queue.depth") == 3
    assert total(after, "appointly.queue.oldest_ready_age") == 0  # frozen clock: enqueued just now
    durations = after.get("http.server.request.duration") or after.get("http.server.duration") or []
    assert sum(p.count for p in durations) > sum(
        p.count for p in (before.get("http.server.request.duration") or before.get("http.server.duration") or [])
    )
