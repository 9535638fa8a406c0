"""Reads of the providers domain; each selector owns its query shape."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.crypto import constant_time_compare

from accounts.models import User
from appointly.compiled import Compiled
from providers.models import Category, OnboardingStep, Provider, Service, qr_token_digest

_PROVIDER_OF_USER: Compiled[Provider] = Compiled(lambda user_id: Provider.objects.filter(user_id=user_id))


def provider_of_user(user: Any) -> Provider | None:
    """A provider user's profile, or None before onboarding's first step: `user.provider`,
    read once per request by `who()` (appointly/core.py) through a compiled read (ADR 0029),
    and left in the user's cache so `user.provider` answers the same without a query."""
    related = User.provider.related  # type: ignore[attr-defined]
    if related.is_cached(user):
        return related.get_cached_value(user)  # type: ignore[return-value]
    provider = _PROVIDER_OF_USER.first(user_id=user.pk)
    related.set_cached_value(user, provider)
    if provider is not None:
        Provider.user.field.set_cached_value(provider, user)
    return provider


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


def provider_get_public(*, slug: str) -> Provider:
    """A provider whose page anyone may see (onboarded); anything else is a 404."""
    return get_object_or_404(Provider, slug=slug, onboarding_step=OnboardingStep.DONE)


def service_get_public(*, slug: str) -> Service:
    return get_object_or_404(services_public(), slug=slug)


def services_of(*, provider: Provider) -> QuerySet[Service]:
    """All of a provider's services, hidden ones too, by name (their Services page)."""
    return Service.objects.filter(provider=provider).select_related("category", "provider").order_by("name", "pk")


def service_get_for_provider(*, provider: Provider, service_id: object) -> Service:
    """One of the provider's own services (hidden ones too); another provider's id is a 404."""
    return get_object_or_404(Service, pk=service_id, provider=provider)


# A check-in code as `new_qr_token` makes them (token_urlsafe(24): 32 URL-safe characters).
_QR_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def provider_by_check_in_code(*, token: str) -> Provider | None:
    """The onboarded provider whose current QR code is `token`, or None (malformed, unknown,
    replaced, or a provider not yet public). Looked up by digest, confirmed in constant time."""
    if not _QR_TOKEN.fullmatch(token):
        return None
    provider = Provider.objects.filter(
        qr_token_digest=qr_token_digest(token), onboarding_step=OnboardingStep.DONE
    ).first()
    if provider is None or not constant_time_compare(provider.qr_token, token):
        return None
    return provider
