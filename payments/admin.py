from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.models import Payment, Payout, ReconciliationRun, Refund
from payments.services import payout_record, refund_requeue


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("reference", "customer", "amount_minor", "currency", "status", "gateway", "created_at")
    list_filter = ("status", "gateway")
    search_fields = ("reference", "idempotency_key", "gateway_ref", "customer__email")
    readonly_fields = [f.name for f in Payment._meta.fields]


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ("payment", "amount_minor", "currency", "status", "attempts", "last_error")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Refund._meta.fields]
    actions = ("requeue",)

    @admin.action(description="Retry the selected failed refunds")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Refund]) -> Any:
        for refund in queryset:
            refund_requeue(refund=refund)


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ("recipient", "amount_minor", "fee_minor", "currency", "reference", "status", "created_at")
    list_filter = ("status",)
    fields = ("recipient", "amount_minor", "currency", "reference")
    raw_id_fields = ("recipient",)

    def save_model(self, request: HttpRequest, obj: Payout, form: Any, change: bool) -> None:
        if change:
            return  # payouts are history: never edited
        payout_record(
            recipient=obj.recipient,
            amount_minor=obj.amount_minor,
            currency=obj.currency,
            reference=obj.reference,
            idempotency_key=str(obj.idempotency_key),
        )
        obj.pk = Payout.objects.get(idempotency_key=str(obj.idempotency_key)).pk

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    """Read-only: each run's window, what it checked, and the differences it found."""

    list_display = ("started_at", "since", "checked", "difference_count")
    readonly_fields = ("started_at", "since", "checked", "differences")

    @admin.display(description="differences")
    def difference_count(self, obj: ReconciliationRun) -> int:
        return len(obj.differences)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
