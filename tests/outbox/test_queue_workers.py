"""The queue under real concurrency and real faults: several claimers, and Celery worker
processes killed with SIGKILL mid-drain (PostgreSQL + Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Count

from outbox.models import Job, JobStatus, ProbeRecord
from outbox.services import job_enqueue, outbox_drain
from tests.celery_workers import ask_workers_to_drain, start_celery_worker, stop_celery_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def enqueue_probes(n: int, work_ms: int = 0) -> None:
    from unittest import mock

    # No wake-ups from here: the test decides who drains.
    with mock.patch("outbox.services._wake_workers"), transaction.atomic():
        for i in range(n):
            job_enqueue(kind_name="outbox.probe", payload={"key": f"k{i}", "work_ms": work_ms}, idempotency_key=f"k{i}")


def test_concurrent_claimers_never_run_a_job_twice() -> None:
    enqueue_probes(400)
    barrier = threading.Barrier(4)

    def drain() -> None:
        try:
            barrier.wait()
            outbox_drain(max_jobs=10_000, batch=7)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    per_key = ProbeRecord.objects.values("key").annotate(n=Count("id"))
    assert per_key.count() == 400
    assert {row["n"] for row in per_key} == {1}
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.DONE}


def _worker_env(lease_seconds: int) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/13",
        "DJANGO_SETTINGS_MODULE": "appointly.settings.base",
        "DJANGO_SECRET_KEY": "worker-test-" + "x" * 40,
        "OUTBOX_LEASE_SECONDS": str(lease_seconds),
        "LOG_LEVEL": "WARNING",
    }


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return start_celery_worker(env, concurrency=2)


def _kick(env: dict[str, str], times: int) -> None:
    """What beat's sweep and the commit hook do: ask workers to drain."""
    ask_workers_to_drain(env["CELERY_BROKER_URL"], times)


@pytest.mark.redis
def test_sigkilled_workers_lose_nothing() -> None:
    total = 1000
    enqueue_probes(total, work_ms=15)
    env = _worker_env(lease_seconds=3)
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    kills = 0
    worker = _start_worker(env)
    try:
        _kick(env, 4)
        # Kill the whole worker (both processes) with SIGKILL three times mid-drain.
        for _ in range(3):
            time.sleep(1.5)
            done = Job.objects.filter(status=JobStatus.DONE).count()
            print(f"kill {kills + 1} at {done} done", file=sys.stderr)
            assert done < total, "drain finished before the fault was injected"
            stop_celery_worker(worker, kill=True)
            kills += 1
            worker = _start_worker(env)
            _kick(env, 2)
        # Then let it finish; the kicks stand in for beat's sweep every minute.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if not Job.objects.exclude(status=JobStatus.DONE).exists():
                break
            _kick(env, 1)
            time.sleep(1.0)
    finally:
        stop_celery_worker(worker, kill=True)
    assert kills == 3
    assert Job.objects.filter(status=JobStatus.DONE).count() == total
    per_key = dict(ProbeRecord.objects.values_list("key").annotate(n=Count("id")))
    # Every job ran; a job whose worker died after its handler committed ran again, under
    # the same key (at-least-once). Those are bounded by what was in flight at each kill.
    assert len(per_key) == total
    duplicates = sum(n - 1 for n in per_key.values())
    assert duplicates <= kills * 2 * 20
    print(f"\n{total} jobs, {kills} SIGKILLs, {duplicates} duplicate runs (same key)", file=sys.stderr)


@pytest.mark.redis
def test_sigkilled_workers_deliver_every_notification_through_twilio() -> None:
    """1,000 SMS through the real twilio client to the local fake, workers SIGKILLed mid-drain."""
    from notifications.models import Message, MessageStatus, Preference
    from notifications.services import notify
    from tests.factories import UserFactory
    from tests.notifications.fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    total = 1000
    users = [UserFactory() for _ in range(10)]
    for user in users:
        Preference.objects.create(user=user, channel="sms", phone="+4915112345678")
    from unittest import mock

    with mock.patch("outbox.services._wake_workers"), transaction.atomic():
        for i in range(total):
            notify(event="refund_issued", recipient=users[i % 10], context={"amount": f"ref-{i:04d}"}, key=f"n{i}")
    env = {
        **_worker_env(lease_seconds=3),
        "TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
        "TWILIO_AUTH_TOKEN": "fault-test-token",
        "TWILIO_SMS_FROM": "+15005550006",
        "TWILIO_API_BASE": fake.url,
    }
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = _start_worker(env)
    kills = 0
    try:
        _kick(env, 4)
        for _ in range(3):
            time.sleep(1.2)
            sent = Message.objects.filter(channel="sms", status=MessageStatus.SENT).count()
            assert sent < total, "drain finished before the fault was injected"
            stop_celery_worker(worker, kill=True)
            kills += 1
            worker = _start_worker(env)
            _kick(env, 2)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and Job.objects.exclude(status=JobStatus.DONE).exists():
            _kick(env, 1)
            time.sleep(1.0)
    finally:
        stop_celery_worker(worker, kill=True)
        fake.stop()
    sms = Message.objects.filter(channel="sms")
    assert sms.count() == total
    assert sms.filter(status=MessageStatus.SENT).count() == total
    bodies = [r["Body"] for r in fake.requests if "Body" in r]
    refs = {b.split("We refunded ")[1].split(" ")[0] for b in bodies}
    assert refs == {f"ref-{i:04d}" for i in range(total)}  # every message reached Twilio
    # A duplicate is a send whose outcome the dead worker never recorded; it repeats the same message.
    duplicates = len(bodies) - len(set(bodies))
    assert duplicates <= kills * 2 * 20
    print(f"\n{total} SMS, {kills} SIGKILLs, {duplicates} duplicate sends (same message)", file=sys.stderr)


@pytest.mark.redis
def test_a_redis_flush_mid_drain_loses_nothing() -> None:
    """The broker forgets every wake-up; the periodic sweep (beat) still drains the table."""
    import redis

    enqueue_probes(300, work_ms=10)
    env = _worker_env(lease_seconds=3)
    broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    broker.flushdb()
    worker = _start_worker(env)
    try:
        _kick(env, 2)
        time.sleep(1.5)
        broker.flushdb()  # queued task messages gone (and any unacked ones)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and Job.objects.exclude(status=JobStatus.DONE).exists():
            _kick(env, 1)  # what beat's one-minute sweep does
            time.sleep(1.0)
    finally:
        stop_celery_worker(worker, kill=True)
    assert Job.objects.filter(status=JobStatus.DONE).count() == 300
    assert ProbeRecord.objects.values("key").distinct().count() == 300


@pytest.mark.redis
def test_four_worker_processes_run_each_job_exactly_once() -> None:
    enqueue_probes(800, work_ms=2)
    env = _worker_env(lease_seconds=60)
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = start_celery_worker(env, concurrency=4)
    try:
        _kick(env, 8)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and Job.objects.exclude(status=JobStatus.DONE).exists():
            time.sleep(0.5)
    finally:
        stop_celery_worker(worker, timeout=30)
    per_key = ProbeRecord.objects.values("key").annotate(n=Count("id"))
    assert per_key.count() == 800
    assert {row["n"] for row in per_key} == {1}
