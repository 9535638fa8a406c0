"""Enqueue, claim, run, retry, dead-letter. Claims are short transactions with SKIP LOCKED."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from appointly.statements import Writes, insert
from appointly.telemetry import DEAD_LETTERS, continued, current_traceparent, traced
from outbox.models import Job, JobStatus
from outbox.registry import PermanentFailure, RetryLater, kind

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    from django.conf import settings

    return timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


BATCH = 20
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0


def backoff(attempt: int) -> timedelta:
    """Exponential with full jitter: up to 5 s, 10 s, 20 s, ... capped at an hour."""
    ceiling = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
    return timedelta(seconds=ceiling / 2 + random.random() * ceiling / 2)  # noqa: S311 - jitter


_wake_lock = threading.Lock()
_last_wake = 0.0


def _wake_workers() -> None:
    """Ask a Celery worker to drain now (rate-limited per process). If the broker is down
    or drops it, the beat sweep finds the job within a minute anyway."""
    global _last_wake
    with _wake_lock:
        now = time.monotonic()
        if now - _last_wake < 0.05:
            return
        _last_wake = now
    try:
        from outbox.tasks import outbox_drain_task

        outbox_drain_task.delay()
    except Exception:
        logger.warning("could not wake a worker; the periodic sweep will pick the job up", exc_info=True)


def _job(kind_name: str, payload: dict[str, Any], idempotency_key: str, **fields: Any) -> Job:
    now = timezone.now()
    return Job(
        kind=kind_name,
        payload=payload,
        traceparent=current_traceparent(),
        idempotency_key=idempotency_key,
        run_after=fields.get("run_after") or now,
        max_attempts=fields.get("max_attempts") or kind(kind_name).max_attempts,
        created_at=now,
        updated_at=now,
    )


def job_enqueue(
    *,
    kind_name: str,
    payload: dict[str, Any],
    idempotency_key: str,
    run_after: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job in the caller's transaction (so a rollback takes it back). The same key twice
    returns the first job. Workers are woken when the transaction commits."""
    job = _job(kind_name, payload, idempotency_key, run_after=run_after, max_attempts=max_attempts)
    try:
        with transaction.atomic():
            job.save(force_insert=True)
    except IntegrityError:
        return Job.objects.get(idempotency_key=idempotency_key)
    transaction.on_commit(_wake_workers)
    return job


def jobs_enqueue(
    *,
    kind_name: str,
    jobs: list[tuple[dict[str, Any], str]],
    max_attempts: int | None = None,
    writes: Writes | None = None,
) -> None:
    """`job_enqueue` for several jobs of one kind, `(payload, idempotency_key)` each, in one
    INSERT (or added to the caller's `writes`, which it sends); a key already queued is skipped."""
    if jobs:
        rows = [_job(kind_name, payload, key, max_attempts=max_attempts) for payload, key in jobs]
        insert(rows, writes=writes, ignore_conflicts=True)
        transaction.on_commit(_wake_workers)


def job_enqueue_periodic(*, kind_name: str, period: str) -> Job:
    """What a beat schedule does: one job per period, by key, so a beat that fires twice
    (a restart, two beats by mistake) adds nothing."""
    with transaction.atomic():
        return job_enqueue(kind_name=kind_name, payload={}, idempotency_key=f"{kind_name}:{period}")


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    traceparent: str = ""


@traced("queue.claim", lambda kwargs, result: {"queue.batch_size": len(result)})
def jobs_claim(*, limit: int = BATCH, now: datetime | None = None, lease: timedelta | None = None) -> list[Claimed]:
    """Lease up to `limit` due jobs: queued and due, or running with an expired lease (their
    worker died). One short transaction; concurrent claimers skip each other's rows."""
    now = now or timezone.now()
    lease = lease or _lease()
    with transaction.atomic():
        ids = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(Q(status=JobStatus.QUEUED, run_after__lte=now) | Q(status=JobStatus.RUNNING, lease_until__lt=now))
            .order_by("run_after", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Job.objects.filter(id__in=ids).update(
            status=JobStatus.RUNNING, attempts=F("attempts") + 1, lease_until=now + lease, updated_at=now
        )
        rows = list(
            Job.objects.filter(id__in=ids).values_list(
                "id", "kind", "payload", "attempts", "max_attempts", "traceparent"
            )
        )
    return [Claimed(*row) for row in sorted(rows)]


def _finish(job: Claimed, **fields: Any) -> bool:
    """Record the outcome only if our lease is still the current one (attempts is the fence)."""
    fields.setdefault("updated_at", timezone.now())
    return bool(Job.objects.filter(id=job.id, attempts=job.attempts, status=JobStatus.RUNNING).update(**fields))


def job_run(job: Claimed) -> str:
    """Run one claimed job's handler and record done / retry / dead. Returns the new status.
    Its span is a child of the trace that enqueued the job."""
    attributes = {"job.kind": job.kind, "job.id": job.id, "job.attempt": job.attempts}
    with continued(job.traceparent, f"job {job.kind}", **attributes) as span:
        outcome = _job_run(job)
        span.set_attribute("job.outcome", outcome)
        return outcome


def _job_run(job: Claimed) -> str:
    now = timezone.now()
    if job.attempts > job.max_attempts:
        _dead(job, "gave up: the job's lease expired too many times (its worker kept dying)")
        return JobStatus.DEAD
    try:
        kind(job.kind).handler(job.payload)
    except RetryLater as exc:
        return _retry(job, str(exc), timedelta(seconds=max(exc.seconds, 0)))
    except PermanentFailure as exc:
        _dead(job, f"permanent: {exc}")
        return JobStatus.DEAD
    except Exception as exc:
        logger.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, type(exc).__name__)
        return _retry(job, f"{type(exc).__name__}: {exc}", backoff(job.attempts))
    _finish(job, status=JobStatus.DONE, finished_at=now, lease_until=None, last_error="")
    return JobStatus.DONE


def _retry(job: Claimed, error: str, delay: timedelta) -> str:
    if job.attempts >= job.max_attempts:
        _dead(job, error)
        return JobStatus.DEAD
    _finish(job, status=JobStatus.QUEUED, run_after=timezone.now() + delay, lease_until=None, last_error=error[:4000])
    return JobStatus.QUEUED


def _dead(job: Claimed, error: str) -> None:
    if _finish(job, status=JobStatus.DEAD, finished_at=timezone.now(), lease_until=None, last_error=error[:4000]):
        DEAD_LETTERS.add(1, {"job.kind": job.kind})
        spec = None
        with contextlib.suppress(PermanentFailure):
            spec = kind(job.kind)
        if spec is not None and spec.on_dead is not None:
            spec.on_dead(job.payload, error)


def outbox_drain(*, max_jobs: int = 1000, batch: int = BATCH) -> int:
    """Claim and run due jobs until none are left or `max_jobs` ran. Returns how many ran."""
    ran = 0
    while ran < max_jobs:
        claimed = jobs_claim(limit=min(batch, max_jobs - ran))
        if not claimed:
            break
        for job in claimed:
            job_run(job)
            ran += 1
    return ran


def job_requeue(*, job: Job) -> bool:
    """Operator action: a dead job gets a fresh set of attempts."""
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job.pk, status=JobStatus.DEAD).update(
            status=JobStatus.QUEUED, attempts=0, run_after=now, updated_at=now, finished_at=None
        )
    )
