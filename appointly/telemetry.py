"""OpenTelemetry: traces across the web request, the database, our job table and outgoing HTTP.

Configured only by the standard variables: `OTEL_TRACES_EXPORTER` (`none` by default, so
`make run` needs nothing; `console`; `otlp` = OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT`),
`OTEL_SERVICE_NAME` (default `appointly`), `OTEL_RESOURCE_ATTRIBUTES`, and the SDK's own.

`configure()` runs once per process, before Django's handler is built (wsgi.py, manage.py) and
in each Celery worker process (`worker_process_init`). Our job table carries the W3C
`traceparent` of the transaction that enqueued a job (`outbox.services.job_enqueue`), and the
worker's dispatch span is its child, so one booking is one trace even though the queue is ours.

Nothing secret leaves in a span: paths and query strings are masked (appointly.redaction, the
same rules as the logs) before the request span ends, and SQL spans carry the statement with
placeholders, never the values.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from appointly.redaction import redact

_configured = False
_lock = threading.Lock()

tracer = trace.get_tracer("appointly")
meter = metrics.get_meter("appointly")

# Metrics (OTEL_METRICS_EXPORTER: none by default, console, otlp). Request latency comes from
# the Django instrumentation (`http.server.request.duration`).
BOOKINGS = meter.create_counter("appointly.bookings", description="Booking steps by step and outcome")
NOTIFICATIONS = meter.create_counter("appointly.notifications", description="Notification sends by channel and outcome")
DEAD_LETTERS = meter.create_counter("appointly.queue.dead_letters", description="Jobs the queue gave up on, by kind")


def _queue_state(options: CallbackOptions) -> Any:
    """Jobs ready to run now, and how long the oldest of them has waited (seconds)."""
    from django.db.models import Count, Min
    from django.utils import timezone as django_timezone

    from outbox.models import Job, JobStatus

    now = django_timezone.now()
    ready = Job.objects.filter(status=JobStatus.QUEUED, run_after__lte=now).aggregate(
        n=Count("id"), oldest=Min("run_after")
    )
    return ready["n"] or 0, (now - ready["oldest"]).total_seconds() if ready["oldest"] else 0.0


def _queue_depth(options: CallbackOptions) -> Iterator[Observation]:
    yield Observation(_queue_state(options)[0])


def _queue_age(options: CallbackOptions) -> Iterator[Observation]:
    yield Observation(_queue_state(options)[1])


meter.create_observable_gauge("appointly.queue.depth", callbacks=[_queue_depth], description="Jobs ready to run")
meter.create_observable_gauge(
    "appointly.queue.oldest_ready_age", callbacks=[_queue_age], unit="s", description="Wait of the oldest ready job"
)

_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")


def _request_done(span: Any, request: Any, response: Any) -> None:
    """Django instrumentation's response hook: mask every URL attribute before the span ends."""
    if not span or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, redact(value) if name != "url.query" else redact("?" + value)[1:])


def _exporter() -> SpanExporter | None:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if name in ("", "none"):
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name in ("otlp", "otlp_proto_http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables
    raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: use none, console or otlp (OTLP over HTTP)")


def _metric_readers() -> list[Any]:
    name = os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower()
    if name in ("", "none"):
        return []
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    if name == "console":
        return [PeriodicExportingMetricReader(ConsoleMetricExporter())]
    if name in ("otlp", "otlp_proto_http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return [PeriodicExportingMetricReader(OTLPMetricExporter())]
    raise ValueError(f"OTEL_METRICS_EXPORTER={name!r}: use none, console or otlp (OTLP over HTTP)")


def configure(*, exporter: SpanExporter | None = None, processor: Any = None, metric_reader: Any = None) -> None:
    """Install the tracer and meter providers and the instrumentations, once per process.
    Tests pass their own in-memory span processor and metric reader."""
    global _configured
    with _lock:
        if _configured:
            return
        _configured = True
    # The settings module reads .env into the environment (and drops empty OTEL_ values):
    # load it first, so the OTEL_* variables of .env count.
    from django.conf import settings

    settings.DEBUG  # noqa: B018 (forces the settings to load)
    chosen = exporter or _exporter()
    readers = [metric_reader] if metric_reader is not None else _metric_readers()
    if chosen is None and processor is None and not readers:
        return  # telemetry off (the default): no providers, no instrumentation, no cost
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "appointly")})
    provider = TracerProvider(resource=resource)
    if processor is not None:
        provider.add_span_processor(processor)
    elif chosen is not None:
        provider.add_span_processor(BatchSpanProcessor(chosen))
    trace.set_tracer_provider(provider)
    if readers:  # no reader: the API's no-op meter, so instruments cost nothing per request
        from opentelemetry.sdk.metrics import MeterProvider

        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    _instrument()


def _instrument() -> None:
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.logging import LoggingInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    DjangoInstrumentor().instrument(response_hook=_request_done)
    _instrument_sql()
    RedisInstrumentor().instrument()
    # Outgoing HTTP: the twilio client (requests), the sandbox's webhook delivery (urllib);
    # the URLs are masked like ours.
    RequestsInstrumentor().instrument(request_hook=_outgoing)
    URLLibInstrumentor().instrument(request_hook=_outgoing)
    # Trace and span ids on every log record (the JSON log format prints them).
    LoggingInstrumentor().instrument(set_logging_format=False, inject_trace_context=True)


def _instrument_sql() -> None:
    """A span per SQL statement Django runs, as a child of the span that ran it (ADR 0021).

    Our own wrapper on Django's `execute_wrappers`, not psycopg's instrumentation: that one wraps
    every cursor and describes every statement whether or not its request is sampled. Here a
    statement outside a recorded span (a request the sampler left out) costs one check, and a
    recorded one carries two attributes: the database and the statement with its placeholders,
    never the values. Traced in full, both cost about the same (benchmarks/RESULTS.md)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    def install(connection: Any, **_: Any) -> None:
        if _sql_span not in connection.execute_wrappers:
            connection.execute_wrappers.append(_sql_span)

    connection_created.connect(install, weak=False, dispatch_uid="appointly.telemetry.sql")
    for connection in connections.all(initialized_only=True):
        install(connection)


def _sql_span(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if not trace.get_current_span().is_recording():
        return execute(sql, params, many, context)
    # Started, not made current: a statement has no children, and attaching a context costs.
    statement = tracer.start_span(
        sql.lstrip().split(" ", 1)[0].upper(),
        kind=trace.SpanKind.CLIENT,
        attributes={"db.system": context["connection"].vendor, "db.statement": sql},
        record_exception=False,
    )
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        statement.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        statement.end()


def _outgoing(span: Any, request: Any) -> None:
    if span and span.is_recording():
        url = getattr(request, "url", None) or getattr(request, "full_url", None)
        if isinstance(url, str):
            span.set_attribute("url.full", redact(url))
            span.set_attribute("http.url", redact(url))


def configure_celery_worker(**_: Any) -> None:
    """`worker_process_init`: each worker process sets up its own provider and instruments
    Celery (the prefork parent's exporter threads do not survive the fork)."""
    configure()
    if isinstance(trace.get_tracer_provider(), TracerProvider):  # telemetry is on
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()


# --- our job table carries the trace --------------------------------------------------------


def current_traceparent() -> str:
    """The W3C traceparent of the active span ("" outside any trace)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def continued(traceparent: str, name: str, **attributes: Any) -> Iterator[Any]:
    """A span that continues the trace a job was enqueued in (its child)."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else context.get_current()
    with tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.CONSUMER) as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)
        yield span


def span(name: str, **attributes: Any) -> Any:
    """A span of our own work, with its attributes (never secrets: ids, counts, outcomes)."""
    return tracer.start_as_current_span(name, attributes={k: v for k, v in attributes.items() if v is not None})


def traced(
    name: str, describe: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None, counter: Any = None
) -> Any:
    """Decorate a service: a span per call, its outcome ("ok" or the exception's class) and the
    attributes `describe(kwargs, result)` names (ids, counts, states; never secrets); `counter`
    counts the calls by step (the span's name) and outcome."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(name) as current:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    current.set_attribute("outcome", type(exc).__name__)
                    if counter is not None:
                        counter.add(1, {"step": name, "outcome": type(exc).__name__})
                    raise
                current.set_attribute("outcome", "ok")
                if counter is not None:
                    counter.add(1, {"step": name, "outcome": "ok"})
                if describe is not None and current.is_recording():
                    for key, value in describe(kwargs, result).items():
                        if value is not None:
                            current.set_attribute(key, value)
                return result

        return wrapper

    return decorate
