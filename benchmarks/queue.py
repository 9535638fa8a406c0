"""Job queue benchmark: 10,000 jobs through the PostgreSQL table with 1, 2 and 4 Celery worker
processes (Redis broker), against a local fake Twilio; the claim query after 100k processed
rows; and the same no-op work on plain Celery + Redis (no table) as the baseline.

    python benchmarks/queue.py [--jobs 10000] [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `queue`: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import statistics
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.celery_workers import ask_workers_to_drain, start_celery_worker, stop_celery_worker

DB_URL = os.environ.get("DATABASE_URL_BENCH_QUEUE", "postgres://postgres@127.0.0.1:5432/appointly_bench_queue")
BROKER = os.environ.get("REDIS_URL_BENCH", "redis://127.0.0.1:6379/12")


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(int(len(values) * 0.95) - 1, 0)]


def worker_env(fake_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER,
        "DJANGO_SETTINGS_MODULE": "appointly.settings.base",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
        "DJANGO_ALLOW_CONSOLE_EMAIL": "true",
        "TWILIO_ACCOUNT_SID": "AC" + "3" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_SMS_FROM": "+15005550006",
        "TWILIO_API_BASE": fake_url,
        "LOG_LEVEL": "ERROR",
    }


def kick(n: int) -> None:
    ask_workers_to_drain(BROKER, n)


def run_table(kind: str, jobs: int, processes: int, fake_url: str) -> dict[str, Any]:
    from unittest import mock

    from django.db import transaction

    from accounts.models import User
    from notifications.models import Message, Preference
    from notifications.services import notify
    from outbox.models import Job, JobStatus
    from outbox.services import job_enqueue

    Job.objects.filter(status=JobStatus.DONE).update(status=JobStatus.DONE)  # warm
    tag = f"{kind}-{processes}-{time.time_ns()}"
    with mock.patch("outbox.services._wake_workers"), transaction.atomic():
        if kind == "sms":
            user = User.objects.create_user(email=f"{tag}@example.com", password=None)
            Preference.objects.create(user=user, channel="sms", phone="+4915112345678")
            for i in range(jobs):
                notify(event="refund_issued", recipient=user, context={"amount": f"{i}"}, key=f"{tag}:{i}")
        else:
            for i in range(jobs):
                job_enqueue(kind_name="outbox.noop", payload={}, idempotency_key=f"{tag}:{i}")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    worker = start_celery_worker(worker_env(fake_url), concurrency=processes, loglevel="ERROR")
    try:
        time.sleep(2.0)  # let the workers boot; the clock starts at the kick
        t0 = time.time()
        kick(processes * 2)
        while Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            time.sleep(0.2)
        wall = time.time() - t0
    finally:
        stop_celery_worker(worker)
    result: dict[str, Any] = {"jobs": jobs, "wall_s": wall, "per_s": jobs / wall}
    if kind == "sms":
        latencies = [
            (sent - created).total_seconds()
            for created, sent in Message.objects.filter(
                recipient__email=f"{tag}@example.com", channel="sms"
            ).values_list("created_at", "sent_at")
            if sent is not None
        ]
        # End to end = from the commit that wrote the message to Twilio accepting it; all jobs
        # were enqueued at once, so this includes waiting in the queue.
        result["p95_s"] = p95(latencies)
    return result


def run_celery_baseline(jobs: int, processes: int) -> dict[str, Any]:
    import redis

    from appointly.celery import app
    from outbox.tasks import celery_noop_baseline

    r = redis.Redis.from_url(BROKER)
    r.flushdb()
    key = "bench:noop"
    worker = start_celery_worker(worker_env(""), concurrency=processes, loglevel="ERROR")
    try:
        time.sleep(2.0)
        t0 = time.time()
        with app.connection_for_write(BROKER) as conn:
            for _ in range(jobs):
                celery_noop_baseline.apply_async(args=(key,), connection=conn)  # type: ignore[call-arg]
        while int(r.get(key) or 0) < jobs:
            time.sleep(0.05)
        wall = time.time() - t0
    finally:
        stop_celery_worker(worker)
    return {"jobs": jobs, "wall_s": wall, "per_s": jobs / wall}


def claim_latency(history: int = 100_000, samples: int = 200) -> dict[str, float]:
    """The claim query's cost once the table has `history` processed rows (and their dead tuples)."""
    from django.db import connection, transaction

    from outbox.models import Job, JobStatus
    from outbox.services import job_enqueue, jobs_claim

    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO outbox_job (kind, payload, status, run_after, attempts, max_attempts, last_error, "
            "idempotency_key, created_at, updated_at, finished_at, traceparent) "
            "SELECT 'outbox.noop', '{}'::jsonb, 'done', now(), 1, 8, '', 'hist:' || g, now(), now(), now(), '' "
            "FROM generate_series(1, %s) g",
            [history],
        )
    from unittest import mock

    with mock.patch("outbox.services._wake_workers"), transaction.atomic():
        for i in range(samples * 20):
            job_enqueue(kind_name="outbox.noop", payload={}, idempotency_key=f"claim:{i}")
    timings = []
    for _ in range(samples):
        t0 = time.perf_counter()
        claimed = jobs_claim(limit=20)
        timings.append((time.perf_counter() - t0) * 1000)
        Job.objects.filter(id__in=[c.id for c in claimed]).update(status=JobStatus.DONE)
    return {"p50_ms": statistics.median(timings), "p95_ms": p95(timings), "rows": Job.objects.count()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from benchmarks.scratch_db import recreate_database

    recreate_database(DB_URL)
    os.environ.update({"DATABASE_URL": DB_URL, "DJANGO_SETTINGS_MODULE": "appointly.settings.test"})
    import django

    django.setup()
    from django.core.management import call_command

    from appointly.celery import app
    from benchmarks.scratch_db import drop_database
    from benchmarks.slots import write_results
    from tests.notifications.fake_twilio import FakeTwilio

    # Test settings run tasks inline; here every task must go to the worker processes.
    app.conf.task_always_eager = False
    call_command("migrate", verbosity=0)
    fake = FakeTwilio().start()
    try:
        sms = {n: run_table("sms", args.jobs, n, fake.url) for n in (1, 2, 4)}
        noop_table = run_table("noop", args.jobs, 2, fake.url)
        noop_celery = run_celery_baseline(args.jobs, 2)
        claim = claim_latency()
    finally:
        fake.stop()
        from django.db import connections

        connections.close_all()
        drop_database(DB_URL)
    lines = [
        f"{args.jobs:,} jobs per run, PostgreSQL table + Celery workers (prefork, Redis broker); SMS through the "
        "real twilio client to a local fake Twilio.",
        "",
        "| run | worker processes | jobs/s | wall s | end-to-end p95 s |",
        "|---|---|---|---|---|",
    ]
    for n, r in sms.items():
        lines.append(f"| SMS via table | {n} | {r['per_s']:,.0f} | {r['wall_s']:.1f} | {r['p95_s']:.1f} |")
    lines += [
        f"| no-op via table | 2 | {noop_table['per_s']:,.0f} | {noop_table['wall_s']:.1f} | |",
        f"| no-op, plain Celery + Redis (baseline) | 2 | {noop_celery['per_s']:,.0f} | {noop_celery['wall_s']:.1f} | |",
        "",
        f"Table / plain Celery throughput for the same no-op work: "
        f"**{noop_table['per_s'] / noop_celery['per_s']:.2f}x**. Claim query (20 jobs, SKIP LOCKED) with "
        f"{claim['rows']:,} rows in the table (100k processed): p50 {claim['p50_ms']:.2f} ms, "
        f"p95 {claim['p95_ms']:.2f} ms.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_results("queue", report)


if __name__ == "__main__":
    main()
