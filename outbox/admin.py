from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox.models import Job
from outbox.services import job_requeue


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "attempts", "max_attempts", "run_after", "short_error")
    list_filter = ("status", "kind")
    search_fields = ("idempotency_key", "kind", "last_error")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ("requeue",)

    @admin.display(description="last error")
    def short_error(self, job: Job) -> str:
        return job.last_error[:120]

    @admin.action(description="Requeue the selected dead jobs")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Job]) -> Any:
        count = sum(job_requeue(job=job) for job in queryset)
        messages.info(request, f"{count} job(s) requeued.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
