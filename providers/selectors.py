"""Reads of the providers domain; each selector owns its query shape."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from providers.models import Category, OnboardingStep, Provider, Service


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
