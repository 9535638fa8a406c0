"""Admin for providers and services. Saves go through the same services as the wizard."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from providers.models import Category, HoursException, Provider, Service, Slot, WeeklyInterval
from providers.rules import service_errors
from providers.services import ProviderHours, slots_regenerate, slots_regenerate_for_provider


class WeeklyIntervalInline(admin.TabularInline):
    model = WeeklyInterval
    extra = 0


class HoursExceptionInline(admin.TabularInline):
    model = HoursException
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("business_name", "slug", "timezone", "onboarding_step", "user")
    list_filter = ("onboarding_step", "timezone")
    search_fields = ("business_name", "slug", "user__email")
    readonly_fields = ("qr_token",)
    inlines = (WeeklyIntervalInline, HoursExceptionInline)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Hours or zone may have changed: the stored future free slots follow.
        result = slots_regenerate_for_provider(provider=form.instance)
        messages.info(request, f"Slots regenerated: {result.deleted} removed, {result.created} created.")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ServiceAdminForm(forms.ModelForm):
    """The admin asks the same rules as the wizard and the dashboard (providers.rules). The
    model and fields come from ServiceAdmin (modelform_factory)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        provider = cleaned.get("provider")
        if provider is not None and not self.errors:
            weekly = list(ProviderHours.load(provider).weekly.values()) if cleaned.get("is_active") else None
            for name, message in service_errors(cleaned, weekly=weekly).items():
                self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceAdminForm
    list_display = ("name", "provider", "category", "duration_minutes", "price_minor", "currency", "is_active")
    list_filter = ("is_active", "category", "currency")
    search_fields = ("name", "slug", "provider__business_name")
    list_select_related = ("provider", "category")
    readonly_fields = ("slots_generated_until",)

    def save_model(self, request: HttpRequest, obj: Service, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        result = slots_regenerate(service=obj)
        messages.info(request, f"Slots regenerated: {result.deleted} removed, {result.created} created.")


@admin.register(Slot)
class SlotAdmin(admin.ModelAdmin):
    list_display = ("service", "start", "end", "slot_date")
    list_select_related = ("service",)
    date_hierarchy = "start"
    raw_id_fields = ("service", "provider")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
