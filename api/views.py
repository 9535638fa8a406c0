"""Making and revoking personal access tokens (the account page and the provider's Settings)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from api.models import AccessToken, Scope
from api.tokens import EXPIRY_CHOICES, scopes_for, token_create, token_revoke, tokens_for
from appointly.core import DomainError


def _back(request: HttpRequest) -> str:
    provider = getattr(request.user, "is_provider", False)
    return reverse("dashboard_settings" if provider else "bookings:account") + "#tokens"


def tokens_context(user: Any) -> dict[str, Any]:
    """What the tokens card needs (one query: the user's tokens)."""
    return {
        "tokens": tokens_for(user=user),
        "token_scopes": [(s, Scope(s).label) for s in scopes_for(user)],
        "token_days": EXPIRY_CHOICES,
    }


@require_POST
def token_new(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    try:
        days = int(request.POST.get("days", "0"))
    except ValueError:
        days = 0
    try:
        token, raw = token_create(
            user=request.user,  # type: ignore[arg-type]
            name=request.POST.get("name", ""),
            scopes=request.POST.getlist("scopes"),
            days=days,
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect(_back(request))
    # Shown once, on this answer (never stored, never put in a message or a redirect).
    return render(request, "api/token_created.html", {"token": token, "raw": raw, "back": _back(request)})


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    name = AccessToken.objects.filter(pk=token_id, user=request.user).values_list("name", flat=True).first()
    if token_revoke(user=request.user, token_id=token_id):  # type: ignore[arg-type]
        messages.success(request, f"“{name}” is revoked: calls with it are refused from now on.")
    return redirect(_back(request))
