"""Load test: people using the site at once, against gunicorn + PostgreSQL + Redis + a Celery
worker, with locust (headless, bounded in time; the people are in benchmarks/locustfile.py).

Mix: visitors browsing, searching and opening service days (70 %), customers booking and
paying (10 %: the webhook comes from the worker, through the sandbox's queued delivery),
customers on their account pages (10 %), providers on the dashboard with its live poll (10 %).
For each number of users: requests/s, p50/p95/p99 per endpoint and the errors (must be 0);
the bare `/healthz` view under the same number of users is the denominator of the ratio.
Then the same mix at a fixed number of users with 1, 2 and 4 gunicorn processes: where
throughput stops growing on this machine. gunicorn's and the worker's memory after the runs.

    python benchmarks/load.py [--users 25,50,100] [--seconds 30] [--workers 4]
                              [--processes 1,2,4] [--process-users 50] [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import csv
import os
import subprocess
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.booking import BASE, django_env, start_gunicorn
from benchmarks.scratch_db import drop_database, recreate_database
from benchmarks.slots import write_results
from tests.celery_workers import start_celery_worker, stop_celery_worker

DB_URL = os.environ.get("DATABASE_URL_BENCH_LOAD", "postgres://postgres@127.0.0.1:5432/appointly_bench_load")
BROKER = os.environ.get("REDIS_URL_BENCH_LOAD", "redis://127.0.0.1:6379/12")
MIX = ["Visitor", "CustomerBooking", "CustomerAccount", "Provider"]


def site_env() -> dict[str, str]:
    return django_env() | {
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER,
        "SANDBOX_WEBHOOK_URL": BASE + "/payments/webhook",
        "SITE_URL": BASE,
    }


SETUP = """
import json, uuid
from datetime import time, timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from accounts.models import Role, User
from bookings.models import Appointment, AppointmentStatus
from providers.models import Category, Service, Slot
from providers.services import provider_account_create, provider_hours_set, provider_profile_save, service_create

def session(user):
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key

providers, categories = [], list(Category.objects.all())
for p in range(10):
    user = provider_account_create(email=f"load-provider{p}@example.com", password=None)
    provider = provider_profile_save(user=user, business_name=f"Load studio {p}", timezone_name="Europe/Berlin",
                                     phone="+4915112345678", address=f"Street {p}")
    provider_hours_set(provider=provider, weekly=[(d, time(8), time(20)) for d in range(7)], exceptions=[])
    for s, name in enumerate(("Haircut", "Massage", "Consultation")):
        service_create(provider=provider, category=categories[(p + s) % len(categories)], name=f"{name} {p}",
                       duration_minutes=30, price_minor=2500 + 500 * s, max_appointments_per_day=24,
                       min_notice_minutes=0)
    providers.append(session(user))
# A fresh customer for each booking user of each run (a user cut off at the end of a run leaves
# its hold behind): 6 runs of at most 10 booking users fit many times over.
booking = [User.objects.create_user(email=f"load-customer{c}@example.com", password=None, role=Role.CUSTOMER)
           for c in range(300)]
account = [User.objects.create_user(email=f"load-regular{c}@example.com", password=None, role=Role.CUSTOMER)
           for c in range(40)]
# Each regular has 45 past appointments (three pages of them), on the first service of a studio.
first = list(Service.objects.filter(name__startswith="Haircut").select_related("provider"))
start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=400)
rows = []
for i, customer in enumerate(account):
    service = first[i % len(first)]
    for k in range(45):
        at = start + timedelta(hours=i * 45 + k)
        rows.append(Appointment(customer=customer, provider=service.provider, service=service, start=at,
                                end=at + timedelta(minutes=30), local_date=at.date(),
                                status=AppointmentStatus.COMPLETED, price_minor=2500, currency="EUR",
                                idempotency_key=str(uuid.uuid4())))
Appointment.objects.bulk_create(rows)
# Free times to book: the haircut of each studio (its times never overlap one another), from
# tomorrow on, shuffled so that concurrent bookers spread over studios and days.
free = list(Slot.objects.filter(service__in=first, start__gte=timezone.now() + timedelta(days=1))
            .order_by("?").values_list("pk", flat=True))
days = sorted({str(d) for d in Slot.objects.filter(start__gte=timezone.now()).values_list("slot_date", flat=True)})
print(json.dumps({
    "providers": providers,
    "customers": [session(u) for u in booking],
    "account_customers": [session(u) for u in account],
    "services": list(Service.objects.values_list("slug", flat=True)),
    "days": days[:14],
    "words": ["hair", "massage", "consult", "studio 3", "nothing-matches"],
    "free_slots": [str(pk) for pk in free],
}))
"""


def setup(data_file: Path) -> None:
    recreate_database(DB_URL)
    py = str(ROOT / ".venv" / "bin" / "python")
    env = site_env()
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    data_file.write_text(out.stdout.strip().splitlines()[-1])


def locust(classes: list[str], users: int, seconds: int, data_file: Path, prefix: Path) -> dict[str, dict[str, Any]]:
    """One headless locust run; its stats per request name (and 'Aggregated')."""
    env = {**os.environ, "APPOINTLY_LOAD_DATA": str(data_file)}
    command = [
        str(ROOT / ".venv" / "bin" / "locust"),
        "-f",
        str(ROOT / "benchmarks" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--stop-timeout",
        "15",
        "--host",
        BASE,
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
        *classes,
    ]
    subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its children (gunicorn's master and workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return total / 1024


def failures(stats: dict[str, dict[str, Any]]) -> int:
    return int(stats["Aggregated"]["Failure Count"])


def row(name: str, s: dict[str, Any]) -> str:
    return (
        f"| {name} | {int(s['Request Count']):,} | {float(s['Requests/s']):,.1f} | {s['50%']} | {s['95%']} "
        f"| {s['99%']} | {s['Failure Count']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", default="25,50,100")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn processes for the user levels")
    parser.add_argument("--processes", default="1,2,4", help="gunicorn processes for the scaling runs")
    parser.add_argument("--process-users", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    levels = [int(u) for u in args.users.split(",")]
    processes = [int(p) for p in args.processes.split(",") if p]

    tmp = Path(tempfile.mkdtemp(prefix="appointly-load-"))
    data_file = tmp / "data.json"
    setup(data_file)
    env = site_env()
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    worker = start_celery_worker(env, concurrency=1)
    lines: list[str] = []
    scaling: list[str] = []
    errors = 0
    try:
        gunicorn = start_gunicorn(args.workers, env)
        try:
            for users in levels:
                mix = locust(MIX, users, args.seconds, data_file, tmp / f"mix{users}")
                bare = locust(["Bare"], users, args.seconds, data_file, tmp / f"bare{users}")
                errors += failures(mix) + failures(bare)
                total, base = mix["Aggregated"], bare["Aggregated"]
                ratio = float(total["Requests/s"]) / max(float(base["Requests/s"]), 0.001)
                lines += [
                    "",
                    f"**{users} users** (gunicorn {args.workers} processes): the mix makes "
                    f"{float(total['Requests/s']):,.1f} requests/s, **{ratio:.2f}x** the bare view's "
                    f"{float(base['Requests/s']):,.1f} under the same users.",
                    "",
                    "| request | requests | per s | p50 ms | p95 ms | p99 ms | errors |",
                    "|---|---|---|---|---|---|---|",
                    *[row(name, s) for name, s in sorted(mix.items()) if name != "Aggregated"],
                    row("**all of the mix**", total),
                    row("bare `/healthz` (baseline, same users)", base),
                ]
            web_rss = rss_mib(gunicorn.pid)
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        worker_rss = rss_mib(worker.pid)
        for n in processes:
            gunicorn = start_gunicorn(n, env)
            try:
                mix = locust(MIX, args.process_users, args.seconds, data_file, tmp / f"proc{n}")
                errors += failures(mix)
                total = mix["Aggregated"]
                scaling.append(
                    f"| {n} | {float(total['Requests/s']):,.1f} | {total['50%']} | {total['95%']} "
                    f"| {total['99%']} | {total['Failure Count']} |"
                )
            finally:
                gunicorn.terminate()
                gunicorn.wait(timeout=30)
        booked = _booked()
    finally:
        stop_celery_worker(worker)
        drop_database(DB_URL)
    report = "\n".join(
        [
            f"locust {args.seconds} s per run, no think time (each user sends its next request when the last is "
            "answered), users all started at once; gunicorn sync workers, PostgreSQL, Redis broker, one Celery "
            "worker process (prefork, concurrency 1) delivering the sandbox's webhooks and the notifications; "
            "`DEBUG` off, CSRF and sessions as in production, 2 cores shared by all of it and locust itself. "
            "Mix: visitors 70 %, customers booking 10 %, customers on their account 10 %, providers on the "
            "dashboard with its poll 10 %.",
            *lines,
            "",
            f"Bookings confirmed by the worker's webhooks during the runs: {booked}. Errors in all runs: **{errors}**.",
            f"Memory after the user levels: gunicorn (master + {args.workers} workers) {web_rss:.0f} MiB, "
            f"Celery worker (master + 1 process) {worker_rss:.0f} MiB.",
            "",
            f"**Processes**: the same mix at {args.process_users} users with 1, 2 and 4 gunicorn processes:",
            "",
            "| gunicorn processes | requests/s | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
            *scaling,
        ]
    )
    print(report)
    if args.write:
        write_results("load", report)
    if errors:
        sys.exit(f"{errors} errors under load")


def _booked() -> int:
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        row_ = conn.execute("SELECT count(*) FROM bookings_appointment WHERE status = 'confirmed'").fetchone()
    return int(row_[0]) if row_ else 0


if __name__ == "__main__":
    time.tzset()
    main()
