"""Reads of the providers domain; each selector owns its query shape."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from providers.models import Category, OnboardingStep, Provider, Service, Slot, SlotStatus


def services_public() -> QuerySet[Service]:
    """Services a visitor may see: active, of a provider who finished onboarding."""
    return Service.objects.filter(is_active=True, provider__onboarding_step=OnboardingStep.DONE).select_related(
        "provider", "category"
    )


def services_search(*, q: str = "", category: str = "", provider: str = "") -> QuerySet[Service]:
    qs = services_public()
    q = q.strip()
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(description__icontains=q)
            | Q(category__name__icontains=q)
            | Q(provider__business_name__icontains=q)
        )
    if category:
        qs = qs.filter(category__slug=category)
    if provider:
        qs = qs.filter(provider__slug=provider)
    return qs.order_by("name", "pk")


def categories_in_use() -> QuerySet[Category]:
    return Category.objects.filter(
        services__is_active=True, services__provider__onboarding_step=OnboardingStep.DONE
    ).distinct()


def providers_public() -> QuerySet[Provider]:
    return Provider.objects.filter(onboarding_step=OnboardingStep.DONE).only("business_name", "slug")


def service_get_public(*, slug: str) -> Service:
    return get_object_or_404(services_public(), slug=slug)


def service_get_for_provider(*, provider: Provider, service_id: object) -> Service:
    """One of the provider's own services (hidden ones too); another provider's id is a 404."""
    return get_object_or_404(Service, pk=service_id, provider=provider)


def provider_services_overview(*, provider: Provider, now: datetime | None = None) -> QuerySet[Service]:
    """The dashboard's service list, each with its count of free slots ahead (one query)."""
    from django.db.models import Count

    now = now or timezone.now()
    return provider.services.select_related("category").annotate(
        free_slots=Count("slots", filter=Q(slots__status=SlotStatus.FREE, slots__start__gte=now)),
    )


def bookable_from(service: Service, now: datetime | None = None) -> datetime:
    """The earliest start a customer may book now (minimum notice)."""
    return (now or timezone.now()) + timedelta(minutes=service.min_notice_minutes)


def free_slots(service: Service, now: datetime | None = None) -> QuerySet[Slot]:
    return Slot.objects.filter(service=service, status=SlotStatus.FREE, start__gte=bookable_from(service, now))
