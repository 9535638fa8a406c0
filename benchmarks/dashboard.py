"""Dashboard, week view, the customer's account page, the services pages (1,000 services) and a
50-appointment bulk cancel against a cancel of one, with 1k, 10k and 100k appointments spread
over 3 years (PostgreSQL).

For each size the provider's history is seeded anew with bulk SQL: appointments evenly over the
last 3 years (attended, no-shows, cancellations with refunds), each paid, plus 150 upcoming
confirmed bookings in real slots. Then, through Django's test client (full middleware and
templates, no network), it times `/dashboard`, the week view (the HTMX fragment) and the
confirmed bulk cancel of 50 appointments (rolled back after each run, so every run cancels the
same 50), next to a bare Django view (`/healthz`) in the same run, with each one's query count.
Last, it prints the plans of the month's aggregates at 100k, to show the indexes they use.

    python benchmarks/dashboard.py [--renders 30] [--sizes 1000,10000,100000] [--write]
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


BLOCK = 5  # runs of one request in a row before the next request's turn (see `timed`)


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(int(len(values) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--sizes", default="1000,10000,100000", help="appointments per round (each > 350)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from benchmarks.clock import Clock
    from benchmarks.scratch_db import django_on_scratch_database, drop_database

    django_on_scratch_database(DB_URL)
    from typing import Any

    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from benchmarks.slots import write_results
    from bookings.models import Appointment, AppointmentEvent
    from tests.factories import ServiceFactory, UserFactory, services_copied

    service: Any = ServiceFactory(max_appointments_per_day=14)
    provider: Any = service.provider
    customer: Any = UserFactory()
    client = Client()
    client.force_login(provider.user)
    # The customer of every appointment: their account page holds the whole history.
    customer_client = Client()
    customer_client.force_login(customer)
    visitor = Client()
    # 1,000 services for the provider (the 999 others without slots: free 0), for the services
    # pages: the dashboard's list (25 a page), browsing (24 a page) and a service's own page.
    services_copied(service, 999, "Service")
    upcoming_slots = [str(pk) for pk in service.slots.order_by("start").values_list("pk", flat=True)[:150]]
    assert len(upcoming_slots) == 150, "the service needs 150 upcoming slots"

    def seed(n: int) -> list[str]:
        """The provider's whole history anew: n past appointments + 150 upcoming, all paid."""
        params = {"customer": customer.pk, "provider": provider.pk, "service": service.pk, "n": n}
        with connection.cursor() as cur:
            # A bulk load: the customer-totals triggers off (ADR 0027: one customer's row changed
            # 100,000 times in one statement costs quadratic time), the totals rebuilt after.
            cur.execute("SET session_replication_role = replica")
            cur.execute("DELETE FROM payments_refund")
            cur.execute("DELETE FROM payments_payment")
            cur.execute("DELETE FROM bookings_appointmentevent")
            cur.execute("DELETE FROM bookings_timeclaim")
            cur.execute("DELETE FROM bookings_appointment")
            # The last 35 days look the same at every size (10 a day), so the pages show the
            # same rows; the other n - 350 fill the 3 years before them. Every 10th is cancelled
            # by its customer two days ahead, every 17th a no-show, the rest attended. The older ones
            # last 10 minutes, so even 100k in 3 years never overlap (attended times keep their claims).
            cur.execute(
                """
                INSERT INTO bookings_appointment (id, created_at, updated_at, customer_id, provider_id, service_id,
                    local_date, start, "end", status, price_minor, currency, idempotency_key, cancelled_by,
                    cancel_reason, cancelled_at, hold_expires_at, refund_full_hours, refund_partial_hours,
                    refund_partial_percent, customer_name, customer_phone, notes, pay_at_venue, booked_by_provider)
                SELECT gen_random_uuid(), t - interval '5 days', t, %(customer)s, %(provider)s, %(service)s,
                    t::date, t, t + CASE WHEN g <= 350 THEN interval '30 minutes' ELSE interval '10 minutes' END,
                    CASE WHEN g %% 10 = 0 THEN 'cancelled' WHEN g %% 17 = 0 THEN 'no_show' ELSE 'completed' END,
                    3500, 'EUR', 'bench-' || g, CASE WHEN g %% 10 = 0 THEN 'customer' ELSE '' END, '',
                    CASE WHEN g %% 10 = 0 THEN t - interval '2 days' END, NULL, 24, 2, 50, 'Casey', '', '', false, false
                FROM (
                    SELECT g, CASE WHEN g <= 350 THEN now() - interval '1 hour' - interval '2.4 hours' * g
                        ELSE now() - interval '35 days' - (interval '3 years' / %(older)s) * (g - 350) END AS t
                    FROM generate_series(1, %(n)s) g
                ) s
                """,
                {**params, "older": n - 350},
            )
            cur.execute(
                """
                INSERT INTO bookings_appointment (id, created_at, updated_at, customer_id, provider_id, service_id,
                    local_date, start, "end", status, price_minor, currency, idempotency_key, cancelled_by,
                    cancel_reason, cancelled_at, hold_expires_at, refund_full_hours, refund_partial_hours,
                    refund_partial_percent, customer_name, customer_phone, notes, pay_at_venue, booked_by_provider)
                SELECT gen_random_uuid(), now(), now(), %(customer)s, %(provider)s, %(service)s, s.slot_date, s.start,
                    s."end", 'confirmed', 3500, 'EUR', 'bench-up-' || s.id, '', '', NULL, NULL, 24, 2, 50, 'Casey',
                    '', '', false, false
                FROM providers_slot s WHERE s.id = ANY(%(slots)s::uuid[])
                """,
                {**params, "slots": upcoming_slots},
            )
            # A timeline event per appointment (the live poll probes the newest of the provider's).
            cur.execute(
                """
                INSERT INTO bookings_appointmentevent (appointment_id, provider_id, kind, "at", actor_id, data)
                SELECT id, provider_id, 'confirmed', start, NULL, '{}'::jsonb FROM bookings_appointment
                """
            )
            # Every appointment that holds its time owns a claim (docs/adr/0011).
            cur.execute(
                """
                INSERT INTO bookings_timeclaim (provider_id, service_id, local_date, start, "end", appointment_id)
                SELECT provider_id, service_id, local_date, start, "end", id FROM bookings_appointment
                WHERE status <> 'cancelled'
                """
            )
            cur.execute(
                """
                INSERT INTO payments_payment (id, created_at, updated_at, reference, payee, customer_id,
                    amount_minor, currency, status, idempotency_key, gateway, gateway_ref, card_last4,
                    failure_message, succeeded_at, checkout_session_id, checkout_url)
                SELECT gen_random_uuid(), a.created_at, a.created_at, a.id::text, %(payee)s, a.customer_id, 3500,
                    'EUR', 'succeeded', 'pay-' || a.idempotency_key, 'sandbox', 'sb_' || a.idempotency_key,
                    '4242', '', a.created_at, '', ''
                FROM bookings_appointment a
                """,
                {"payee": str(provider.pk)},
            )
            cur.execute(
                """
                INSERT INTO payments_refund (id, created_at, updated_at, payment_id, payee, amount_minor,
                    currency, reason, status, idempotency_key, gateway_ref, attempts, last_error, succeeded_at)
                SELECT gen_random_uuid(), a.cancelled_at, a.cancelled_at, p.id, p.payee, 3500, 'EUR',
                    'Cancelled by customer', 'succeeded', 'refund-' || a.idempotency_key, '', 1, '',
                    a.cancelled_at + interval '1 minute'
                FROM bookings_appointment a JOIN payments_payment p ON p.reference = a.id::text
                WHERE a.status = 'cancelled'
                """
            )
            cur.execute("SET session_replication_role = DEFAULT")
            cur.execute("SELECT payments_customertotal_rebuild(), bookings_customerattendance_rebuild()")
            cur.execute("ANALYZE")
        return [
            str(pk)
            for pk in Appointment.objects.filter(provider=provider, status="confirmed")
            .order_by("start")
            .values_list("pk", flat=True)[:50]
        ]

    clock = Clock()

    def timed(requests: dict[str, tuple[Any, int]]) -> dict[str, tuple[list[float], int, tuple[float, float]]]:
        """For each request (a function and how many runs): each run's ms, the query count and
        the median ms in SQL and in templates. The requests take turns in blocks of BLOCK runs,
        each block after one unmeasured run, so that a machine slowing down or speeding up during
        the run weighs on all of them alike, the bare view too (measured one after the other, the
        baseline moved 0.6-1.0 ms between sizes on a busy machine); within a block a request
        runs warm, as it did measured all in a row (one run of each per round instead cools
        every cache in between, the bare view's most: 0.6 -> 1.0 ms)."""
        queries: dict[str, int] = {}
        for name, (fn, _) in requests.items():
            fn()  # warm
            connection.queries_log.clear()  # a full log (9,000 entries) would make every count 0
            with CaptureQueriesContext(connection) as ctx:
                fn()
            # Counted now: every request clears the log (Django's `reset_queries` on request_started).
            queries[name] = len(ctx.captured_queries)
        timings: dict[str, list[float]] = {name: [] for name in requests}
        sql: dict[str, list[float]] = {name: [] for name in requests}
        templates: dict[str, list[float]] = {name: [] for name in requests}
        with clock.running():
            while any(len(timings[name]) < runs for name, (_, runs) in requests.items()):
                for name, (fn, runs) in requests.items():
                    block = min(BLOCK, runs - len(timings[name]))
                    if block <= 0:
                        continue
                    fn()
                    for _ in range(block):
                        clock.reset()
                        t0 = time.perf_counter()
                        fn()
                        timings[name].append((time.perf_counter() - t0) * 1000)
                        sql[name].append(clock.sql * 1000)
                        templates[name].append(clock.template_only * 1000)
        return {
            name: (timings[name], queries[name], (statistics.median(sql[name]), statistics.median(templates[name])))
            for name in requests
        }

    def cancel(ids: list[str]) -> None:
        with transaction.atomic():
            response = client.post("/dashboard/appointments/cancel", {"ids": ids, "confirm": "1"})
            assert response.status_code == 200
            assert response.content.decode().count('<td data-label="Result">cancelled</td>') == len(ids)
            transaction.set_rollback(True)

    def ok(path: str, who: Any = client, **headers: str) -> None:
        assert who.get(path, headers=headers).status_code == 200

    def quiet_poll() -> None:
        # The live view's poll when nothing changed since the page's cursor (docs/adr/0013).
        response = client.get(f"/dashboard/changes?after={cursor}", headers={"HX-Request": "true"})
        assert response.status_code == 204

    rows: list[str] = []
    plans: list[str] = []
    cancel_ratios: list[str] = []
    slow_plans: list[str] = []
    try:
        for n in (int(size) for size in args.sizes.split(",")):
            batch = seed(n)
            cursor = AppointmentEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            few = max(args.renders // 3, 3)
            figures = timed(
                {
                    "dashboard": (lambda: ok("/dashboard"), args.renders),
                    "week view": (lambda: ok("/dashboard?view=week", HX_Request="true"), args.renders),
                    "account page (customer of all of them)": (
                        lambda: ok("/account/", customer_client),
                        args.renders,
                    ),
                    "account page, past list": (lambda: ok("/account/?show=past", customer_client), args.renders),
                    "account page, past 50 (981-1,000)": (
                        lambda: ok("/account/?show=past&page=50", customer_client),
                        args.renders,
                    ),
                    "dashboard services (1,000 services, 25 a page)": (
                        lambda: ok("/dashboard/services?page=7"),
                        args.renders,
                    ),
                    "browse (1,000 services, 24 a page)": (lambda: ok("/?page=7", visitor), args.renders),
                    "service page": (lambda: ok(f"/services/{service.slug}/", visitor), args.renders),
                    "cancel 1": (lambda batch=batch: cancel(batch[:1]), few),
                    "bulk cancel 50": (lambda batch=batch: cancel(batch), few),
                    "live poll, nothing new (204)": (quiet_poll, args.renders),
                    "/healthz (baseline)": (lambda: ok("/healthz"), args.renders),
                }
            )
            base = statistics.median(figures["/healthz (baseline)"][0])
            one, fifty = (statistics.median(figures[k][0]) for k in ("cancel 1", "bulk cancel 50"))
            cancel_ratios.append(f"{n:,}: {fifty / one:.1f}x ({fifty:.0f} ms / {one:.0f} ms)")
            for name, (timings, queries, (sql, templates)) in figures.items():
                p50 = statistics.median(timings)
                rows.append(
                    f"| {n:,} | {name} | {p50:.1f} | {p95(timings):.1f} | {queries} | {sql:.1f} | {templates:.1f} "
                    f"| {p50 - sql - templates:.1f} | {p50 / base:.0f}x |"
                )
                print(rows[-1], flush=True)
        # The month's aggregates as the dashboard runs them, explained at 100k.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            ok("/dashboard")
        for query in ctx.captured_queries:
            text = query["sql"]
            if text.startswith("SELECT") and ('"succeeded_at" >=' in text or '"cancelled_at" >=' in text):
                with connection.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + text)
                    plans.append("\n".join(r[0] for r in cur.fetchall()))
        # Where the slowest pages' time goes at the largest size: each SELECT they ran, explained.
        for label, fetch in (
            ("service page", lambda: ok(f"/services/{service.slug}/", visitor)),
            ("account page", lambda: ok("/account/", customer_client)),
        ):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                fetch()
            for query in ctx.captured_queries:
                if query["sql"].lstrip("(").startswith("SELECT") and "django_session" not in query["sql"]:
                    with connection.cursor() as cur:
                        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + query["sql"])
                        plan = [r[0] for r in cur.fetchall()]
                    slow_plans.append(f"{label}: {plan[-1].strip()}\n" + "\n".join(plan[:14]))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB_URL)
    report = "\n".join(
        [
            f"Each measured {args.renders} times per size ({max(args.renders // 3, 3)} for the cancels) "
            f"through the test client on PostgreSQL, 2 cores, the requests taking turns, {BLOCK} runs each after one "
            "unmeasured; baseline = the bare `/healthz` view in the same turns. "
            "Appointments spread over 3 years: the last 35 days hold 350 at every size (10 a day), so each page shows "
            "the same rows and only the history behind them grows; plus 150 upcoming. SQL ms = median time inside "
            "the database driver (round trips included); templates ms = rendering less the SQL run inside it; Python "
            "ms = the rest (middleware, session, views, selectors); templates render as in production (no test "
            "instrumentation).",
            "",
            "| appointments | request | p50 ms | p95 ms | SQL queries | SQL ms | templates ms | Python ms "
            "| p50 / baseline |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Bulk cancel of 50 against cancelling one (p50, same batch, rolled back each time): "
            + "; ".join(cancel_ratios)
            + ".",
            "",
            "Plans of the month's aggregates at 100,000 appointments (`EXPLAIN ANALYZE` of the SQL the dashboard ran):",
            "",
            *[f"```\n{plan}\n```\n" for plan in plans],
            "The service page's and the account page's queries at the largest size, explained:",
            "",
            *[f"```\n{plan}\n```\n" for plan in slow_plans],
        ]
    )
    print(report)
    if args.write:
        write_results("dashboard", report)


if __name__ == "__main__":
    main()
