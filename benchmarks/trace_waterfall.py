"""One booking's traces drawn as a waterfall (docs/screenshots/trace-waterfall.png, README).

Runs a real booking in-process against a scratch PostgreSQL database with tracing on (an
in-memory exporter): the hold request, then payment on the sandbox's hosted page and the
gateway's webhook, whose trace continues through our job table into the worker's dispatch and
the notification sends. The spans of the hold's trace and of the webhook's trace are drawn as an
SVG waterfall, rendered to PNG by Debian's chromium.

    python benchmarks/trace_waterfall.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import html
import os
import shutil
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("DATABASE_URL_WATERFALL", "postgres://postgres@127.0.0.1:5432/appointly_waterfall")
OUT = ROOT / "docs" / "screenshots" / "trace-waterfall.png"


def run_booking() -> list[Any]:
    os.environ.update(
        {
            "DATABASE_URL": DB_URL,
            "DJANGO_DEBUG": "true",
            "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
            "DJANGO_SETTINGS_MODULE": "appointly.settings.base",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    from benchmarks.scratch_db import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from appointly import telemetry

    exporter = InMemorySpanExporter()
    telemetry.configure(processor=SimpleSpanProcessor(exporter))
    call_command("migrate", verbosity=0)
    from datetime import time, timedelta

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role, User
    from bookings import availability
    from bookings.models import Appointment
    from outbox.services import outbox_drain
    from providers.models import Category
    from providers.services import provider_account_create, provider_hours_set, provider_profile_save, service_create
    from tests.factories import deliver_webhooks, hidden_fields, pay_flow

    connection.close()  # reconnect through the instrumented driver
    user = provider_account_create(email="waterfall-provider@example.com", password=None)
    provider = provider_profile_save(
        user=user,
        business_name="Waterfall Physio",
        timezone_name="Europe/Berlin",
        phone="+4915112345678",
        address="1 St",
    )
    provider_hours_set(provider=provider, weekly=[(d, time(0), time(23, 30)) for d in range(7)], exceptions=[])
    category = Category.objects.first() or Category.objects.create(name="Health", slug="health")
    service = service_create(
        provider=provider, category=category, name="Physio session", duration_minutes=30, price_minor=4500
    )
    customer = User.objects.create_user(email="waterfall-customer@example.com", password=None, role=Role.CUSTOMER)
    slot = availability.offers(service).filter(start__gt=timezone.now() + timedelta(hours=2)).order_by("start").first()
    assert slot is not None, "the demo provider has no free time in the next days"
    client = Client()
    client.force_login(customer)
    exporter.clear()
    client.post(f"/book/{slot.pk}/", hidden_fields(client.get(f"/book/{slot.pk}/").content.decode()))
    pay_flow(client, Appointment.objects.get(customer=customer), deliver=False)
    deliver_webhooks(client)
    outbox_drain()
    return list(exporter.get_finished_spans())


def waterfall(spans: list[Any]) -> str:
    by_trace: dict[int, list[Any]] = {}
    for s in spans:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    hold = next(t for t in by_trace.values() if any(s.name == "booking.hold" for s in t))
    paid = next(t for t in by_trace.values() if any(s.name == "payment.webhook" for s in t))
    rows: list[tuple[str, Any, int, int, int]] = []  # (title, span, depth, t0, t1)
    for title, group in (("1. Hold the time (POST /book/…)", hold), ("2. The gateway's webhook → jobs → sends", paid)):
        start = min(s.start_time for s in group)
        end = max(s.end_time for s in group)
        ids = {s.context.span_id: s for s in group}

        def depth(s: Any, ids: dict[int, Any] = ids) -> int:
            d = 0
            while s.parent is not None and s.parent.span_id in ids:
                s, d = ids[s.parent.span_id], d + 1
            return d

        rows.append((title, None, 0, start, end))
        for s in sorted(group, key=lambda s: s.start_time):
            rows.append(("", s, depth(s), start, end))
    width, label_w, row_h = 1200, 430, 20
    height = 40 + row_h * len(rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        '<text x="10" y="22" font-size="15" font-weight="bold">One booking, traced (OpenTelemetry spans)</text>',
    ]
    colours = {"db": "#9aa7b8", "job": "#d98c3a", "booking": "#2f6fdb", "payment": "#2f9e62", "notification": "#a35fd0"}
    y = 40
    for title, s, d, t0, t1 in rows:
        if s is None:
            out.append(
                f'<text x="10" y="{y + 14}" font-weight="bold">{html.escape(title)}  ({(t1 - t0) / 1e6:.1f} ms)</text>'
            )
            y += row_h
            continue
        attrs = dict(s.attributes or {})
        key = "db" if "db.system" in attrs else s.name.split(".")[0].split(" ")[0]
        colour = colours.get(key, "#5b6b7f")
        name = s.name if "db.system" not in attrs else f"SQL {str(attrs.get('db.statement', ''))[:40]}"
        x0 = label_w + (s.start_time - t0) / max(t1 - t0, 1) * (width - label_w - 20)
        w = max((s.end_time - s.start_time) / max(t1 - t0, 1) * (width - label_w - 20), 1.5)
        out.append(f'<text x="{10 + d * 12}" y="{y + 14}">{html.escape(name[:60])}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>')
        y += row_h
    out.append("</svg>")
    return "\n".join(out)


def render(svg: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 400})
        page.set_content(svg)
        page.locator("svg").screenshot(path=str(out))
        browser.close()


def main() -> None:
    from benchmarks.scratch_db import drop_database

    # --out PATH: draw elsewhere (CI's smoke run), not over the README's picture.
    out = Path(sys.argv[sys.argv.index("--out") + 1]).resolve() if "--out" in sys.argv else OUT

    try:
        spans = run_booking()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB_URL)
    render(waterfall(spans), out)
    print(f"{len(spans)} spans; wrote {out}")


if __name__ == "__main__":
    main()
