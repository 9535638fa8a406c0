"""The durable job queue: enqueue with the transaction, claim, lease, retry, dead letter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import Client

from outbox.models import Job, JobStatus, ProbeRecord
from outbox.registry import PermanentFailure, RetryLater, register
from outbox.services import job_enqueue, job_run, jobs_claim, outbox_drain
from tests.factories import staff_with_second_factor

pytestmark = pytest.mark.django_db

CALLS: list[str] = []


@register("tests.flaky", max_attempts=3)
def flaky(payload: dict[str, Any]) -> None:
    CALLS.append(payload["mode"])
    if payload["mode"] == "boom":
        raise ValueError("upstream said no")
    if payload["mode"] == "retry-after":
        raise RetryLater("429 from upstream", seconds=120)
    if payload["mode"] == "permanent":
        raise PermanentFailure("invalid phone number (21211)")


def probe(key: str) -> Job:
    return job_enqueue(kind_name="outbox.probe", payload={"key": key}, idempotency_key=f"probe:{key}")


def test_a_rolled_back_transaction_leaves_no_job_and_a_committed_one_does() -> None:
    def failing_booking() -> None:
        with transaction.atomic():
            probe("rolled-back")
            raise RuntimeError("the booking failed")

    with pytest.raises(RuntimeError):
        failing_booking()
    assert not Job.objects.exists()
    with transaction.atomic():
        probe("committed")
    assert Job.objects.get().idempotency_key == "probe:committed"


def test_the_same_key_is_one_job() -> None:
    assert probe("a").pk == probe("a").pk
    assert Job.objects.count() == 1


def test_claim_run_done(frozen_now: time_machine.Coordinates) -> None:
    probe("a")
    probe("b")
    assert outbox_drain() == 2
    assert sorted(ProbeRecord.objects.values_list("key", flat=True)) == ["a", "b"]
    assert set(Job.objects.values_list("status", "attempts")) == {(JobStatus.DONE, 1)}
    assert outbox_drain() == 0


def test_future_jobs_wait(frozen_now: time_machine.Coordinates) -> None:
    from django.utils import timezone

    job_enqueue(
        kind_name="outbox.probe",
        payload={"key": "later"},
        idempotency_key="later",
        run_after=timezone.now() + timedelta(hours=1),
    )
    assert outbox_drain() == 0
    frozen_now.shift(timedelta(hours=1))
    assert outbox_drain() == 1


def test_failures_back_off_then_dead_letter_with_the_error(frozen_now: time_machine.Coordinates) -> None:
    CALLS.clear()
    job_enqueue(kind_name="tests.flaky", payload={"mode": "boom"}, idempotency_key="boom")
    outbox_drain()
    job = Job.objects.get()
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    assert job.last_error == "ValueError: upstream said no"
    first_delay = job.run_after - job.updated_at
    assert timedelta(seconds=2.5) <= first_delay <= timedelta(seconds=5)
    assert outbox_drain() == 0  # not due yet
    frozen_now.shift(timedelta(seconds=5))
    outbox_drain()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 2)
    assert timedelta(seconds=5) <= job.run_after - job.updated_at <= timedelta(seconds=10)
    frozen_now.shift(timedelta(seconds=10))
    outbox_drain()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
    assert job.finished_at is not None
    assert CALLS == ["boom"] * 3
    frozen_now.shift(timedelta(days=1))
    assert outbox_drain() == 0


def test_retry_after_is_honoured_and_permanent_failures_do_not_retry(frozen_now: time_machine.Coordinates) -> None:
    job_enqueue(kind_name="tests.flaky", payload={"mode": "retry-after"}, idempotency_key="ra")
    job_enqueue(kind_name="tests.flaky", payload={"mode": "permanent"}, idempotency_key="perm")
    outbox_drain()
    retry = Job.objects.get(idempotency_key="ra")
    assert retry.run_after - retry.updated_at == timedelta(seconds=120)
    perm = Job.objects.get(idempotency_key="perm")
    assert (perm.status, perm.attempts) == (JobStatus.DEAD, 1)
    assert perm.last_error == "permanent: invalid phone number (21211)"


def test_a_dead_workers_lease_expires_and_the_job_is_reclaimed(frozen_now: time_machine.Coordinates) -> None:
    probe("a")
    [claimed] = jobs_claim()  # a worker claims it ... and dies
    assert Job.objects.get().status == JobStatus.RUNNING
    assert jobs_claim() == []  # leased: nobody else takes it
    frozen_now.shift(timedelta(seconds=301))
    [again] = jobs_claim()
    assert again.attempts == 2
    assert job_run(again) == JobStatus.DONE
    # The first worker coming back late cannot overwrite the outcome (attempts is the fence)
    assert job_run(claimed) == JobStatus.DONE
    assert Job.objects.get().attempts == 2
    assert ProbeRecord.objects.filter(key="a").count() == 2  # at-least-once: same key twice


def test_unknown_kinds_are_refused_at_enqueue() -> None:
    with pytest.raises(PermanentFailure):
        job_enqueue(kind_name="nobody.handles.this", payload={}, idempotency_key="x")
    assert not Job.objects.exists()


def test_staff_requeue_dead_jobs_from_the_admin(client: Client, frozen_now: time_machine.Coordinates) -> None:
    job_enqueue(kind_name="tests.flaky", payload={"mode": "permanent"}, idempotency_key="perm")
    outbox_drain()
    job = Job.objects.get()
    client.force_login(staff_with_second_factor()[0])
    listing = client.get("/admin/outbox/job/?status__exact=dead").content.decode()
    assert "invalid phone number (21211)" in listing
    client.post("/admin/outbox/job/", {"action": "requeue", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)


def test_a_drain_task_that_hits_its_budget_hands_the_rest_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from outbox import tasks

    for i in range(25):
        probe(f"p{i}")
    monkeypatch.setattr(tasks, "DRAIN_BUDGET", 10)
    tasks.outbox_drain_task()  # Celery runs tasks inline in tests: the follow-ups run too
    assert ProbeRecord.objects.count() == 25
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.DONE}
