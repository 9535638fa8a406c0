"""The durable job queue: one PostgreSQL table, claimed with SELECT ... FOR UPDATE SKIP LOCKED.

A job is written in the same transaction as the change that causes it. Payloads carry ids
only; handlers re-read the rows. Delivery is at-least-once; `idempotency_key` is unique, and
handlers are idempotent. See docs/adr/0007.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    DEAD = "dead", "Dead letter"


class Job(models.Model):
    kind = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    run_after = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The W3C traceparent of the transaction that enqueued it: the worker's span continues that
    # trace (appointly.telemetry). Empty outside a trace.
    traceparent = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("run_after", "id")
        indexes = [
            # Small partial indexes: the claim query only ever looks at live rows.
            models.Index(fields=("run_after", "id"), condition=Q(status="queued"), name="job_due_idx"),
            models.Index(fields=("lease_until",), condition=Q(status="running"), name="job_lease_idx"),
            models.Index(fields=("status", "kind"), name="job_status_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class ProbeRecord(models.Model):
    """Written by the `outbox.probe` job kind: end-to-end checks, fault tests and benchmarks
    count these rows to prove each job ran (and how often)."""

    key = models.CharField(max_length=200, db_index=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"probe {self.key}"
