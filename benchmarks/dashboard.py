"""Dashboard render time with 1k, 10k and 100k appointments over 3 years (PostgreSQL).

Seeds one provider with N past and future appointments (bulk SQL), then renders `/dashboard`
through Django's test client (full middleware and templates, no network) and prints p50/p95
and the number of SQL queries, next to a bare Django view (`/healthz`) measured in the same
run. Also prints the plan of the month-count query to show the index is used.

    python benchmarks/dashboard.py [--renders 30] [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("DATABASE_URL_BENCH_DASHBOARD", "postgres://postgres@127.0.0.1:5432/appointly_bench_dashboard")


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(int(len(values) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from benchmarks.scratch_db import recreate_database

    recreate_database(DB_URL)
    os.environ.update({"DATABASE_URL": DB_URL, "DJANGO_SETTINGS_MODULE": "appointly.settings.test"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from benchmarks.scratch_db import drop_database
    from benchmarks.slots import write_results

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from typing import Any

    from tests.factories import ServiceFactory, UserFactory

    service: Any = ServiceFactory()
    provider: Any = service.provider
    customer: Any = UserFactory()
    slot = service.slots.order_by("start").first()
    client = Client()
    client.force_login(provider.user)
    rows: list[str] = []
    try:
        seeded = 0
        for target in (1_000, 10_000, 100_000):
            with connection.cursor() as cur:
                # Appointments every 15 minutes across 3 years back (attended / cancelled) and
                # the coming weeks (confirmed), with paid ledger rows for the earnings cards.
                cur.execute(
                    """
                    INSERT INTO bookings_appointment (id, created_at, updated_at, customer_id, provider_id, service_id,
                        slot_id, start, "end", status, price_minor, currency, idempotency_key, cancelled_by,
                        cancel_reason, cancelled_at, hold_expires_at)
                    SELECT gen_random_uuid(), now(), now(), %(customer)s, %(provider)s, %(service)s, %(slot)s,
                        now() - interval '3 years' + g * interval '15 minutes',
                        now() - interval '3 years' + g * interval '15 minutes' + interval '10 minutes',
                        CASE WHEN g %% 10 = 0 THEN 'cancelled' WHEN g %% 17 = 0 THEN 'no_show' ELSE 'completed' END,
                        3500, 'EUR', 'bench-' || g, CASE WHEN g %% 10 = 0 THEN 'customer' ELSE '' END, '',
                        CASE WHEN g %% 10 = 0 THEN now() - interval '3 years' + g * interval '15 minutes' END, NULL
                    FROM generate_series(%(lo)s, %(hi)s) g
                    """,
                    {
                        "customer": customer.pk,
                        "provider": provider.pk,
                        "service": service.pk,
                        "slot": slot.pk,
                        "lo": seeded + 1,
                        "hi": target,
                    },
                )
                cur.execute(
                    """
                    INSERT INTO payments_payment (id, created_at, updated_at, reference, payee, customer_id,
                        amount_minor, currency, status, idempotency_key, gateway, gateway_ref, card_last4,
                        failure_message)
                    SELECT gen_random_uuid(), a.start, a.start, a.id::text, %(payee)s, a.customer_id, 3500, 'EUR',
                        'succeeded', 'pay-' || a.idempotency_key, 'sandbox', '', '4242', ''
                    FROM bookings_appointment a WHERE a.idempotency_key LIKE 'bench-%%'
                        AND NOT EXISTS (SELECT 1 FROM payments_payment p WHERE p.reference = a.id::text)
                    """,
                    {"payee": str(provider.pk)},
                )
                cur.execute("ANALYZE")
            seeded = target
            client.get("/dashboard")  # warm
            timings = []
            for _ in range(args.renders):
                t0 = time.perf_counter()
                assert client.get("/dashboard").status_code == 200
                timings.append((time.perf_counter() - t0) * 1000)
            base = []
            for _ in range(args.renders):
                t0 = time.perf_counter()
                client.get("/healthz")
                base.append((time.perf_counter() - t0) * 1000)
            rows.append(
                f"| {target:,} | {statistics.median(timings):.1f} | {p95(timings):.1f} "
                f"| {statistics.median(base):.2f} | {statistics.median(timings) / statistics.median(base):.0f}x |"
            )
            print(rows[-1], flush=True)
        with connection.cursor() as cur:
            cur.execute(
                "EXPLAIN SELECT count(*) FROM bookings_appointment WHERE provider_id = %s "
                "AND start >= now() - interval '30 days' AND start < now()",
                [provider.pk],
            )
            plan = "\n".join(r[0] for r in cur.fetchall())
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB_URL)
    report = "\n".join(
        [
            f"`/dashboard` rendered {args.renders} times per size through the test client (PostgreSQL, 2 cores); "
            "baseline = bare `/healthz` view in the same run.",
            "",
            "| appointments | p50 ms | p95 ms | /healthz p50 ms | p50 / baseline |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Plan of a month's count for one provider (the `(provider, start)` index):",
            "",
            "```",
            plan,
            "```",
        ]
    )
    print(report)
    if args.write:
        write_results("dashboard", report)


if __name__ == "__main__":
    main()
