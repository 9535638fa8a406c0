"""Where each request of a booking spends its time: the 8 requests of the browser flow, in
process through Django's test client on PostgreSQL (full middleware, templates, no network),
each split into SQL (time inside the database driver, round trips included), templates (their
rendering, less the SQL they ran) and the rest of Python (middleware, forms, views, services).

    python benchmarks/booking_steps.py [--bookings 30] [--label after] [--write]

The same script run on an older commit (a worktree) gives the "before" column: --label before.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import re
import statistics
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("DATABASE_URL_BENCH_STEPS", "postgres://postgres@127.0.0.1:5432/appointly_bench_steps")
STEPS = ["GET confirm", "POST hold", "GET pay", "POST Pay", "GET hosted page", "POST card", "webhook", "GET return"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=30)
    parser.add_argument("--label", default="after")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from benchmarks.clock import Clock
    from benchmarks.scratch_db import django_on_scratch_database, drop_database

    django_on_scratch_database(DB_URL)
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    import outbox.services
    from bookings.models import Appointment
    from providers.models import Slot
    from tests.factories import ServiceFactory, UserFactory, deliver_webhooks, hidden_fields, path_of

    # Jobs wait in the table as in production (a worker runs them); the test settings' eager
    # Celery would otherwise run them inside the request that committed them.
    outbox.services._wake_workers = lambda: None  # type: ignore[attr-defined]
    clock = Clock()
    service: Any = ServiceFactory(price_minor=4500, min_notice_minutes=0)
    client = Client()
    customer: Any = UserFactory()
    client.force_login(customer)
    slots = list(
        Slot.objects.filter(service=service, start__gt=timezone.now() + timedelta(hours=2)).order_by("start")[
            : args.bookings + 1
        ]
    )
    assert len(slots) == args.bookings + 1, "not enough slots"
    seen: dict[str, list[tuple[float, int, float, float]]] = {step: [] for step in STEPS}
    try:
        with clock.running():
            for n, slot in enumerate(slots):

                def step(name: str, fn: Any, n: int = n) -> Any:
                    clock.reset()
                    t0 = time.perf_counter()
                    answer = fn()
                    total = time.perf_counter() - t0
                    if n:  # the first booking warms up
                        seen[name].append((total, clock.queries, clock.sql, clock.template_only))
                    return answer

                page = step("GET confirm", lambda slot=slot: client.get(f"/book/{slot.pk}/"))
                fields = hidden_fields(page.content.decode())
                held = step("POST hold", lambda slot=slot, f=fields: client.post(f"/book/{slot.pk}/", f))
                assert held.status_code == 302, held.status_code
                appointment = Appointment.objects.get(idempotency_key=fields["idempotency_key"])
                pay = f"/appointments/{appointment.pk}/pay/"
                page = step("GET pay", lambda p=pay: client.get(p))
                key = re.search(r'name="payment_key" value="([^"]+)"', page.content.decode())
                assert key
                pressed = step("POST Pay", lambda p=pay, k=key[1]: client.post(p, {"payment_key": k}))
                hosted = path_of(pressed.url)
                step("GET hosted page", lambda h=hosted: client.get(h))
                paid = step("POST card", lambda h=hosted: client.post(h, {"card_number": "4242424242424242"}))
                step("webhook", lambda: deliver_webhooks(client))
                back = path_of(paid.url)
                done = step("GET return", lambda u=back: client.get(u))
                assert done.status_code == 302, done.status_code
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB_URL)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.2f}"

    rows = []
    totals = [0.0, 0, 0.0, 0.0]
    for name in STEPS:
        runs = seen[name]
        total = [r[0] for r in runs]
        sql = [r[2] for r in runs]
        tpl = [r[3] for r in runs]
        python = [r[0] - r[2] - r[3] for r in runs]
        queries = round(statistics.median(r[1] for r in runs))
        rows.append(f"| {args.label} | {name} | {ms(total)} | {queries} | {ms(sql)} | {ms(tpl)} | {ms(python)} |")
        totals = [
            totals[0] + statistics.median(total),
            totals[1] + queries,
            totals[2] + statistics.median(sql),
            totals[3] + statistics.median(tpl),
        ]
    rows.append(
        f"| {args.label} | **whole booking** | {totals[0] * 1000:.2f} | {totals[1]} | {totals[2] * 1000:.2f} "
        f"| {totals[3] * 1000:.2f} | {(totals[0] - totals[2] - totals[3]) * 1000:.2f} |"
    )
    report = "\n".join(
        [
            f"Each request of the booking flow, median of {args.bookings} bookings (after one to warm up), in process "
            "through the test client on PostgreSQL (sandbox gateway; the webhook delivered by the test client). SQL = "
            "time inside the driver per statement, round trips included; templates = rendering less the SQL run "
            "inside it; Python = the rest (middleware, sessions, forms, views, services, the sandbox's page).",
            "",
            "| code | request | total ms | queries | SQL ms | templates ms | Python ms |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(report)
    if args.write:
        from benchmarks.slots import write_results

        write_results("booking_steps", report)


if __name__ == "__main__":
    main()
