"""Slot generation benchmark: 1,000 services x 30 days, then regenerate 100 of them.

Runs each backend in a fresh database (a temporary SQLite file; a scratch PostgreSQL database
`appointly_bench` when PostgreSQL answers on DATABASE_URL_BENCH or 127.0.0.1:5432) and prints
seconds and slots/s. The baseline, measured in the same run, is the naive approach: one INSERT
per slot (Slot.objects.create) for a sample of services; the ratio shows what bulk inserts buy.

    python benchmarks/slots.py            # both backends, writes nothing
    python benchmarks/slots.py --write    # also rewrites the slots section of RESULTS.md
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.scratch_db import drop_database, recreate_database

# BENCH_SLOTS_SERVICES: a smaller run (CI's smoke run of every benchmark uses 20).
SERVICES = int(os.environ.get("BENCH_SLOTS_SERVICES", "1000"))
SERVICES_PER_PROVIDER = 10
REGENERATE = min(100, SERVICES)
BASELINE_SERVICES = min(20, SERVICES)
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo"]


def child() -> None:
    """Runs inside a subprocess whose DATABASE_URL points at a fresh database."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "appointly.settings.test"
    import django

    django.setup()
    from datetime import time as wall

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Role, User
    from bookings.availability import services_free_slots
    from providers.models import Category, OnboardingStep, Provider, Service, Slot, WeeklyInterval, qr_token_fields
    from providers.services import (
        ProviderHours,
        _build_slots,
        slots_regenerate,
        slots_regenerate_for_provider,
        slots_topup,
    )

    call_command("migrate", verbosity=0)
    category = Category.objects.get(slug="hair-beauty")
    providers = []
    for p in range(SERVICES // SERVICES_PER_PROVIDER):
        user = User.objects.create_user(email=f"bench{p}@example.com", password=None, role=Role.PROVIDER)
        providers.append(
            Provider(
                user=user,
                business_name=f"Bench {p}",
                slug=f"bench-{p}",
                timezone=ZONES[p % len(ZONES)],
                phone="+4915112345678",
                address="Street 1",
                onboarding_step=OnboardingStep.DONE,
                **qr_token_fields(),
            )
        )
    Provider.objects.bulk_create(providers)
    WeeklyInterval.objects.bulk_create(
        [
            WeeklyInterval(provider=p, weekday=d, start_time=s, end_time=e)
            for p in providers
            for d in range(6)
            for s, e in ((wall(9), wall(12)), (wall(13), wall(18)))
        ]
    )
    Service.objects.bulk_create(
        [
            Service(
                provider=p,
                category=category,
                name=f"Service {i}",
                slug=f"svc-{p.slug}-{i}",
                duration_minutes=30,
                price_minor=3000,
                max_appointments_per_day=16,
            )
            for p in providers
            for i in range(SERVICES_PER_PROVIDER)
        ]
    )

    # Baseline: one INSERT per slot, for a sample of services.
    sample = list(Service.objects.select_related("provider").order_by("pk")[:BASELINE_SERVICES])
    t0 = time.perf_counter()
    naive = 0
    for service in sample:
        rows = _build_slots(
            service=service, hours=ProviderHours.load(service.provider), days=_window(service), now=_now()
        )
        with transaction.atomic():
            for row in rows:
                Slot(
                    service_id=row.service_id,
                    provider_id=row.provider_id,
                    start=row.start,
                    end=row.end,
                    slot_date=row.slot_date,
                ).save(force_insert=True)
        naive += len(rows)
    naive_s = time.perf_counter() - t0
    Slot.objects.all().delete()

    # Generation: every service, 30 days, through the real top-up service (bulk inserts): first
    # in one thread, then (from empty again) as the hourly job runs it, in
    # settings.SLOTS_TOPUP_WORKERS threads on PostgreSQL.
    t0 = time.perf_counter()
    created_one = slots_topup(workers=1)
    generate_one_s = time.perf_counter() - t0
    assert created_one == Slot.objects.count(), (created_one, Slot.objects.count())
    if connection.vendor == "postgresql":  # empty, not 408,600 dead rows in the indexes
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Slot._meta.db_table}")
    Slot.objects.all().delete()
    Service.objects.update(slots_generated_until=None)
    t0 = time.perf_counter()
    created = slots_topup()
    generate_s = time.perf_counter() - t0
    assert created == Slot.objects.count() == created_one, (created, created_one, Slot.objects.count())

    # Regeneration of 100 services (e.g. after a duration change).
    some = list(Service.objects.order_by("pk")[:REGENERATE])
    Service.objects.filter(pk__in=[s.pk for s in some]).update(duration_minutes=45)
    t0 = time.perf_counter()
    regenerated = 0
    for service in some:
        regenerated += slots_regenerate(service=service).created
    regenerate_s = time.perf_counter() - t0

    # Regeneration after an hours change: 10 other providers (their 100 services) now open and
    # close 15 minutes later (every offer replaced), and each provider's services are
    # regenerated together, as saving the Hours page does.
    changed = providers[len(providers) // 2 :][: max(REGENERATE // SERVICES_PER_PROVIDER, 1)]
    for old_start, old_end in ((wall(9), wall(12)), (wall(13), wall(18))):
        WeeklyInterval.objects.filter(provider__in=changed, start_time=old_start).update(
            start_time=old_start.replace(minute=15), end_time=old_end.replace(minute=15)
        )
    t0 = time.perf_counter()
    hours_changed = {"deleted": 0, "created": 0, "services": 0}
    for provider in changed:
        result = slots_regenerate_for_provider(provider=provider)
        hours_changed["deleted"] += result.deleted
        hours_changed["created"] += result.created
    hours_s = time.perf_counter() - t0
    hours_changed["services"] = Service.objects.filter(provider__in=changed).count()
    assert hours_changed["deleted"] > 0, hours_changed
    assert hours_changed["created"] > 0, hours_changed

    # Second top-up: nothing to do, and fast.
    t0 = time.perf_counter()
    again = slots_topup()
    again_s = time.perf_counter() - t0

    # A page of 25 services' free times (the provider's Services page: one UNION ALL of the
    # offers definition) over this many slots, on the app's connection (PostgreSQL's JIT
    # compiler off, ADR 0026) and with the compiler on (PostgreSQL's default).
    page = list(Service.objects.select_related("provider").order_by("pk")[:25])
    page_ms = {}
    if connection.vendor == "postgresql":
        for jit in ("off", "on"):
            with connection.cursor() as cursor:
                cursor.execute(f"SET jit = {jit}")
            services_free_slots(page)  # warm
            t0 = time.perf_counter()
            for _ in range(5):
                services_free_slots(page)
            page_ms[jit] = (time.perf_counter() - t0) / 5 * 1000
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")

    print(
        json.dumps(
            {
                "backend": connection.vendor,
                "slots": created,
                "generate_s": generate_s,
                "generate_rate": created / generate_s,
                "generate_one_s": generate_one_s,
                "workers": settings.SLOTS_TOPUP_WORKERS if connection.vendor == "postgresql" else 1,
                "regenerated": regenerated,
                "regenerate_s": regenerate_s,
                "regenerate_rate": regenerated / regenerate_s,
                "naive_slots": naive,
                "naive_rate": naive / naive_s,
                "hours_providers": len(changed),
                "hours_services": hours_changed["services"],
                "hours_s": hours_s,
                "hours_deleted": hours_changed["deleted"],
                "hours_created": hours_changed["created"],
                "page_ms": page_ms,
                "second_topup_created": again,
                "second_topup_s": again_s,
            }
        )
    )


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()


def _window(service):  # type: ignore[no-untyped-def]
    from providers.services import _days, service_horizon

    return _days(*service_horizon(service))


def run_backend(url: str) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def postgres_url() -> str | None:
    base = os.environ.get("DATABASE_URL_BENCH", "postgres://postgres@127.0.0.1:5432/appointly_bench")
    try:
        recreate_database(base)
    except Exception as exc:
        print(f"PostgreSQL not available ({exc}); skipping it.")
        return None
    return base


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_backend(f"sqlite:///{tmp}/bench.sqlite3"))
    pg = postgres_url()
    if pg:
        try:
            results.append(run_backend(pg))
        finally:
            drop_database(pg)
    lines = [
        f"Slot generation: {SERVICES} services x 30 days (Mon-Sat, 2 intervals, 30 min, max 16/day), in one "
        "thread and then in the hourly job's threads (settings.SLOTS_TOPUP_WORKERS, PostgreSQL only); then "
        f"{REGENERATE} services regenerated one by one after each one's duration changed (30 -> 45 min: nearly "
        "every offer replaced), and the services of other providers regenerated together after their hours "
        "changed (every interval 15 minutes later: every offer replaced); "
        f"baseline = one model save (INSERT) per slot on {BASELINE_SERVICES} services.",
        "",
        "| backend | slots | generate s, 1 thread | generate s (threads) | slots/s "
        f"| regenerate {REGENERATE} one by one s (created) "
        "| hours changed: providers (services) s (deleted, created) | per-row baseline slots/s "
        "| bulk / baseline | second top-up s (created) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['slots']:,} | {r['generate_one_s']:.2f} | {r['generate_s']:.2f} ({r['workers']}) "
            f"| {r['generate_rate']:,.0f} "
            f"| {r['regenerate_s']:.2f} ({r['regenerated']:,}) "
            f"| {r['hours_providers']} ({r['hours_services']}) {r['hours_s']:.2f} "
            f"({r['hours_deleted']:,}, {r['hours_created']:,}) | {r['naive_rate']:,.0f} "
            f"| {r['generate_rate'] / r['naive_rate']:.1f}x | {r['second_topup_s']:.3f} ({r['second_topup_created']}) |"
        )
    for r in results:
        if r["page_ms"]:
            lines.append(
                f"\nA page of 25 services' free times over these {r['slots']:,} slots ({r['backend']}, mean of 5): "
                f"**{r['page_ms']['off']:.0f} ms** on the app's connection (JIT off, ADR 0026), "
                f"{r['page_ms']['on']:.0f} ms with PostgreSQL's JIT compiler on (its default)."
            )
    report = "\n".join(lines)
    print(report)
    if "--write" in sys.argv:
        write_results("slots", report)
    for r in results:  # a second top-up finds nothing to do
        assert r["second_topup_created"] == 0, r


def write_results(section: str, body: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    heading = f"## {section} (`python benchmarks/{section}.py --write`, {time.strftime('%Y-%m-%d')})"
    block = f"{start}\n{heading}\n\n{body}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
