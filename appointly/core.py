"""Shared foundations: the base model, domain errors and the "who is this request" helper.

This module sits at the bottom of the dependency graph: it imports no app of ours.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser


class HtmxHttpRequest(HttpRequest):
    """A request that passed django-htmx's middleware (for type checking views)."""

    htmx: HtmxDetails


class BaseModel(models.Model):
    """Timestamps every row carries; saves still name their fields."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DomainError(Exception):
    """A rule of the domain refused the request; the message is safe to show to the user."""


class Kind(enum.StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    PROVIDER = "provider"


@dataclass(frozen=True)
class Identity:
    """Who is making a request. `provider` is the profile, None until onboarding step 1."""

    kind: Kind
    user: Any = None
    provider: Any = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind is Kind.ANONYMOUS

    @property
    def is_customer(self) -> bool:
        return self.kind is Kind.CUSTOMER

    @property
    def is_provider(self) -> bool:
        return self.kind is Kind.PROVIDER

    @property
    def is_onboarded(self) -> bool:
        return self.provider is not None and self.provider.is_onboarded


def _provider_by_descriptor(user: Any) -> Any:
    try:
        return user.provider
    except ObjectDoesNotExist:
        return None


# How a provider user's profile is read: the providers app sets its own (a compiled read) when
# it is ready; this module cannot import it (it sits below every app).
_provider_of: Callable[[Any], Any] = _provider_by_descriptor


def set_provider_lookup(lookup: Callable[[Any], Any]) -> None:
    """`lookup(user)` returns the user's provider profile or None, and leaves `user.provider`
    answering the same."""
    global _provider_of
    _provider_of = lookup


def identity_for_user(user: AbstractBaseUser | AnonymousUser | None) -> Identity:
    if user is None or not user.is_authenticated:
        return Identity(kind=Kind.ANONYMOUS)
    if getattr(user, "role", None) == Kind.PROVIDER:
        return Identity(kind=Kind.PROVIDER, user=user, provider=_provider_of(user))
    return Identity(kind=Kind.CUSTOMER, user=user)


def who(request: HttpRequest) -> Identity:
    """The one answer to "who is this request?", cached on the request.

    Used by views, templates (as `identity`) and the API alike.
    """
    cached: Identity | None = getattr(request, "_appointly_identity", None)
    if cached is None:
        cached = identity_for_user(getattr(request, "user", None))
        request._appointly_identity = cached  # type: ignore[attr-defined]
    return cached


def identity_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `{{ identity.kind }}` etc. Lazy: no query unless used."""
    from django.utils.functional import SimpleLazyObject

    return {"identity": SimpleLazyObject(lambda: who(request))}


def form_uuid(raw: object) -> str | None:
    """A key or an id posted by our own forms (idempotency keys, slot ids): a UUID, or None."""
    import uuid

    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        return None
